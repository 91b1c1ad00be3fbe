/*
 * Fuzz target: bytes of a QMP connection through the JSON reader and the
 * command dispatcher, as the monitor handles them.  Commands are limited
 * to ones that cannot touch files outside the process (queries, node
 * removal and reopening, qemu-io on a null-co node, and blockdev-add of
 * null-co nodes), so the fuzzer explores the
 * parser, the visitors and the commands' argument checks safely.
 */
#include "strata/osdep.h"
#include "block/block.h"
#include "block/blockdev.h"
#include "qapi/qmp-dispatch.h"
#include "qapi/qapi-commands.h"
#include "util/aio.h"
#include "util/json-parser.h"
#include "util/json-writer.h"
#include "util/qdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static QmpCommandList fuzz_commands;

/* blockdev-add, for null-co / null-aio nodes only. */
static void marshal_blockdev_add_null(json_t *args, json_t **ret,
                                      Error **errp)
{
    const char *drv = args ? qdict_get_try_str(args, "driver") : NULL;

    if (!drv || (strcmp(drv, "null-co") && strcmp(drv, "null-aio"))) {
        error_setg(errp, "fuzzing: only null-co nodes may be added");
        return;
    }
    qmp_marshal_blockdev_add(args, ret, errp);
}

static void fuzz_init(void)
{
    static const struct {
        const char *name;
        QmpCommandFunc *fn;
    } safe[] = {
        { "query-version", qmp_marshal_query_version },
        { "query-named-block-nodes", qmp_marshal_query_named_block_nodes },
        { "query-block", qmp_marshal_query_block },
        { "query-block-exports", qmp_marshal_query_block_exports },
        { "blockdev-add", marshal_blockdev_add_null },
        { "blockdev-del", qmp_marshal_blockdev_del },
        { "blockdev-reopen", qmp_marshal_blockdev_reopen },
        { "human-monitor-command", qmp_marshal_human_monitor_command },
    };

    qemu_init_main_loop();
    bdrv_init();
    for (size_t i = 0; i < ARRAY_SIZE(safe); i++) {
        qmp_register_command(&fuzz_commands, safe[i].name, safe[i].fn, 0, 0);
    }
}

static void dispatch_one(void *opaque, json_t *value, Error *err)
{
    json_t *rsp;
    g_autofree char *text = NULL;

    if (err) {
        rsp = qmp_error_response(err);
    } else {
        rsp = qmp_dispatch(&fuzz_commands, value, false, NULL);
        json_decref(value);
    }
    if (rsp) {
        text = json_to_string_qemu(rsp, false);
        json_decref(rsp);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialised;
    JSONMessageParser parser;

    if (!initialised) {
        fuzz_init();
        initialised = true;
    }
    json_message_parser_init(&parser, dispatch_one, NULL);
    json_message_parser_feed(&parser, (const char *)data, size);
    json_message_parser_flush(&parser);
    json_message_parser_destroy(&parser);
    /* Each input starts from an empty graph. */
    blockdev_close_all();
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* finish what the commands started */
    }
    return 0;
}
