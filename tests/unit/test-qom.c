/*
 * Unit tests for QOM-lite: paths, --object parsing, object-add/-del,
 * qom-list/-get/-set, and the secret, iothread and throttle-group types,
 * with the messages Debian's qemu-storage-daemon 7.2 and qemu-io give.
 */
#include "strata/osdep.h"
#include "block/throttle-groups.h"
#include "crypto/aes.h"
#include "crypto/secret.h"
#include "qapi/qapi-commands.h"
#include "qom/iothread.h"
#include "qom/object.h"
#include "util/qdict.h"

/* Run --object @str; return the error message (g_free it) or NULL. */
static char *add_str(const char *str)
{
    Error *err = NULL;

    if (user_creatable_add_from_str(str, &err)) {
        return NULL;
    }
    g_assert_nonnull(err);
    {
        char *msg = g_strdup(error_get_pretty(err));

        error_free(err);
        return msg;
    }
}

static void assert_add_ok(const char *str)
{
    g_autofree char *msg = add_str(str);

    if (msg) {
        g_test_message("%s: %s", str, msg);
    }
    g_assert_null(msg);
}

static void assert_add_fails(const char *str, const char *expected)
{
    g_autofree char *msg = add_str(str);

    g_assert_cmpstr(msg, ==, expected);
}

/* Check and free *@errp, leaving it NULL for the next call. */
static void assert_error(Error **errp, const char *expected)
{
    g_assert_nonnull(*errp);
    g_assert_cmpstr(error_get_pretty(*errp), ==, expected);
    error_free(*errp);
    *errp = NULL;
}

static json_t *qom_get(const char *path, const char *prop)
{
    return qmp_qom_get(path, prop, &error_abort);
}

static char *qom_get_err(const char *path, const char *prop)
{
    Error *err = NULL;
    json_t *v = qmp_qom_get(path, prop, &err);
    char *msg;

    g_assert_null(v);
    g_assert_nonnull(err);
    msg = g_strdup(error_get_pretty(err));
    error_free(err);
    return msg;
}

/* qom-set with a JSON text as value; the error message or NULL. */
static char *qom_set(const char *path, const char *prop, const char *json)
{
    g_autoptr(json_t) v = qobject_from_json(json, &error_abort);
    Error *err = NULL;
    char *msg;

    qmp_qom_set(path, prop, v, &err);
    if (!err) {
        return NULL;
    }
    msg = g_strdup(error_get_pretty(err));
    error_free(err);
    return msg;
}

static int64_t qom_get_int(const char *path, const char *prop)
{
    g_autoptr(json_t) v = qom_get(path, prop);

    g_assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* qom-list as "name:type" strings joined by spaces. */
static char *qom_list(const char *path)
{
    ObjectPropertyInfoList *list = qmp_qom_list(path, &error_abort);
    GString *s = g_string_new(NULL);

    for (ObjectPropertyInfoList *l = list; l; l = l->next) {
        g_string_append_printf(s, "%s%s:%s", s->len ? " " : "",
                               l->value->name, l->value->type);
    }
    qapi_free_ObjectPropertyInfoList(list);
    return g_string_free(s, false);
}

/* ---- the tree and paths ---- */

static void test_paths(void)
{
    g_autofree char *list = NULL;
    g_autofree char *path = NULL;
    bool ambiguous;
    Object *obj;

    g_assert_true(object_resolve_path("/", NULL) == object_get_root());
    g_assert_cmpstr(object_get_typename(object_get_root()), ==, "container");

    assert_add_ok("throttle-group,id=tg0");
    obj = object_resolve_path("/objects/tg0", NULL);
    g_assert_nonnull(obj);
    path = object_get_canonical_path(obj);
    g_assert_cmpstr(path, ==, "/objects/tg0");

    /* Empty components are skipped; no "..". */
    g_assert_true(object_resolve_path("//objects", NULL) ==
                  object_get_objects_root());
    g_assert_true(object_resolve_path("/objects/", NULL) ==
                  object_get_objects_root());
    g_assert_null(object_resolve_path("/objects/..", NULL));
    g_assert_null(object_resolve_path("/nope", NULL));

    /* Partial paths match anywhere, but only once. */
    g_assert_true(object_resolve_path("tg0", &ambiguous) == obj);
    g_assert_false(ambiguous);
    g_assert_true(object_resolve_path("objects/tg0", NULL) == obj);
    g_assert_null(object_resolve_path("", &ambiguous));
    g_assert_true(ambiguous);

    /* An object called "objects" makes "objects" ambiguous. */
    assert_add_ok("throttle-group,id=objects");
    g_assert_null(object_resolve_path("objects", &ambiguous));
    g_assert_true(ambiguous);
    g_assert_true(user_creatable_del("objects", &error_abort));
    g_assert_true(object_resolve_path("objects", NULL) ==
                  object_get_objects_root());

    list = qom_list("/objects");
    g_assert_cmpstr(list, ==, "type:string tg0:child<throttle-group>");
    g_assert_true(user_creatable_del("tg0", &error_abort));
    user_creatable_cleanup();
    g_assert_null(object_resolve_path_component(object_get_root(),
                                                "objects"));
}

static void test_qom_commands(void)
{
    g_autoptr(json_t) type = NULL;
    g_autoptr(json_t) child = NULL;
    g_autofree char *root_list = NULL;
    Error *err = NULL;
    char *msg;

    assert_add_ok("throttle-group,id=tg0");
    root_list = qom_list("/");
    g_assert_true(g_str_has_prefix(root_list, "type:string"));
    g_assert_nonnull(strstr(root_list, "objects:child<container>"));

    type = qom_get("/", "type");
    g_assert_cmpstr(json_string_value(type), ==, "container");
    child = qom_get("/objects", "tg0");
    g_assert_cmpstr(json_string_value(child), ==, "/objects/tg0");

    msg = qom_get_err("/", "nope");
    g_assert_cmpstr(msg, ==, "Property 'container.nope' not found");
    g_free(msg);
    msg = qom_get_err("/objects/tg0", "nope");
    g_assert_cmpstr(msg, ==, "Property 'throttle-group.nope' not found");
    g_free(msg);
    msg = qom_get_err("/nope", "type");
    g_assert_cmpstr(msg, ==, "Device '/nope' not found");
    g_free(msg);

    msg = qom_set("/", "type", "\"x\"");
    g_assert_cmpstr(msg, ==, "Property 'container.type' is not writable");
    g_free(msg);
    msg = qom_set("/objects", "tg0", "\"x\"");
    g_assert_cmpstr(msg, ==, "Property 'container.tg0' is not writable");
    g_free(msg);

    g_assert_null(qmp_qom_list("/nope", &err));
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_DEVICE_NOT_FOUND);
    assert_error(&err, "Device '/nope' not found");
    g_assert_null(qmp_qom_list("", &err));
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_GENERIC_ERROR);
    assert_error(&err, "Path '' is ambiguous");

    qmp_object_del("nope", &err);
    assert_error(&err, "object 'nope' not found");
    qmp_object_del("tg0", &error_abort);
    qmp_object_del("tg0", &err);
    assert_error(&err, "object 'tg0' not found");
    user_creatable_cleanup();
}

/* ---- --object and object-add ---- */

static void test_add_errors(void)
{
    Error *err = NULL;

    assert_add_fails("secret,id=0s,data=x",
                     "Parameter 'id' expects an identifier");
    assert_add_fails("secret,id=a/b,data=x",
                     "Parameter 'id' expects an identifier");
    assert_add_fails("foo,id=x",
                     "Parameter 'qom-type' does not accept value 'foo'");
    assert_add_fails("id=x", "Parameter 'qom-type' is missing");
    assert_add_fails("secret,data=x", "Parameter 'id' is missing");
    assert_add_fails("secret,id=s0,data=x,foo=1",
                     "Parameter 'foo' is unexpected");
    assert_add_fails("secret,id=s0,data.x=1",
                     "Parameters 'data.*' are unexpected");
    assert_add_fails("throttle-group,id=t,limits=5",
                     "Invalid parameter type for 'limits', expected: object");
    assert_add_fails(",", "Invalid parameter ''");
    assert_add_fails("{\"qom-type\":\"secret\",\"id\":\"s0\"",
                     "JSON parse error, premature EOI");
    assert_add_fails("{\"qom-type\":\"help\"}",
                     "Parameter 'qom-type' does not accept value 'help'");

    /* The id is taken before the object completes, as in QEMU. */
    assert_add_ok("secret,id=s0,data=x");
    assert_add_fails("secret,id=s0",
                     "attempt to add duplicate property 's0' to object "
                     "(type 'container')");
    /* A failed object does not keep its id. */
    assert_add_fails("secret,id=s1", "Either 'file' or 'data' must be "
                     "provided");
    g_assert_null(object_resolve_path("/objects/s1", NULL));
    assert_add_ok("{\"qom-type\":\"secret\",\"id\":\"s1\",\"data\":\"y\"}");

    /* The hint follows the id message. */
    g_assert_false(user_creatable_add_from_str("secret,id=_x,data=x", &err));
    g_assert_cmpstr(error_get_hint(err), ==,
                    "Identifiers consist of letters, digits, '-', '.', '_', "
                    "starting with a letter.\n");
    error_free(err);

    /* A type the program does not offer, as iothread in qemu-io. */
    object_type_set_user_creatable("iothread", false);
    assert_add_fails("iothread,id=io", "invalid object type: iothread");
    object_type_set_user_creatable("iothread", true);
    assert_add_ok("iothread,id=io");
    user_creatable_cleanup();
}

static void test_help(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        object_type_set_user_creatable("iothread", false);
        g_assert_false(user_creatable_add_from_str("help", &err));
        g_assert_null(err);
        g_assert_false(user_creatable_add_from_str("secret,id=x,help",
                                                   &err));
        g_assert_null(err);
        g_assert_false(user_creatable_add_from_str("iothread,?", &err));
        g_assert_null(err);
        object_type_set_user_creatable("iothread", true);
        g_assert_false(user_creatable_add_from_str("iothread,help", &err));
        g_assert_false(user_creatable_add_from_str("throttle-group,help",
                                                   &err));
        g_assert_null(err);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout(
        "List of user creatable objects:\n"
        "  secret\n"
        "  throttle-group\n"
        "secret options:\n"
        "  data=<string>\n"
        "  file=<string>\n"
        "  format=<QCryptoSecretFormat>\n"
        "  iv=<string>\n"
        "  keyid=<string>\n"
        "List of user creatable objects:\n"
        "  secret\n"
        "  throttle-group\n"
        "iothread options:\n"
        "  aio-max-batch=<int>\n"
        "  poll-grow=<int>\n"
        "  poll-max-ns=<int>\n"
        "  poll-shrink=<int>\n"
        "  thread-pool-max=<int>\n"
        "  thread-pool-min=<int>\n"
        "throttle-group options:\n"
        "  limits=<ThrottleLimits>\n"
        "  x-bps-read-max-length=<int>\n"
        "  x-bps-read-max=<int>\n"
        "  x-bps-read=<int>\n"
        "  x-bps-total-max-length=<int>\n"
        "  x-bps-total-max=<int>\n"
        "  x-bps-total=<int>\n"
        "  x-bps-write-max-length=<int>\n"
        "  x-bps-write-max=<int>\n"
        "  x-bps-write=<int>\n"
        "  x-iops-read-max-length=<int>\n"
        "  x-iops-read-max=<int>\n"
        "  x-iops-read=<int>\n"
        "  x-iops-size=<int>\n"
        "  x-iops-total-max-length=<int>\n"
        "  x-iops-total-max=<int>\n"
        "  x-iops-total=<int>\n"
        "  x-iops-write-max-length=<int>\n"
        "  x-iops-write-max=<int>\n"
        "  x-iops-write=<int>\n");
}

static void test_process_cmdline_exit(void)
{
    if (g_test_subprocess()) {
        user_creatable_process_cmdline("secret,id=s0");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*Either 'file' or 'data' must be provided\n");
}

/* ---- secrets ---- */

static char *secret_utf8(const char *id)
{
    return qcrypto_secret_lookup_as_utf8(id, &error_abort);
}

static void test_secret_data(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-qom-XXXXXX", NULL);
    g_autofree char *file = g_build_filename(dir, "secret", NULL);
    g_autofree char *opt = NULL;
    g_autofree char *s = NULL;
    g_autofree char *b64 = NULL;
    g_autofree uint8_t *raw = NULL;
    g_autoptr(json_t) data = NULL;
    g_autoptr(json_t) loaded = NULL;
    g_autoptr(json_t) format = NULL;
    g_autoptr(json_t) keyid = NULL;
    size_t len;
    Error *err = NULL;

    assert_add_ok("secret,id=plain,data=hello");
    s = secret_utf8("plain");
    g_assert_cmpstr(s, ==, "hello");
    g_clear_pointer(&s, g_free);

    /* Files are taken whole, newline included. */
    g_assert_true(g_file_set_contents(file, "from file\n", -1, NULL));
    opt = g_strdup_printf("secret,id=f,file=%s", file);
    assert_add_ok(opt);
    s = secret_utf8("f");
    g_assert_cmpstr(s, ==, "from file\n");
    g_clear_pointer(&s, g_free);
    g_clear_pointer(&opt, g_free);
    opt = g_strdup_printf("secret,id=f2,file=%s/nonexist", dir);
    {
        g_autofree char *msg = add_str(opt);
        g_autofree char *expected = g_strdup_printf(
            "Unable to read %s/nonexist: Failed to open file “%s/nonexist”: "
            "No such file or directory", dir, dir);

        g_assert_cmpstr(msg, ==, expected);
    }

    assert_add_ok("secret,id=b,data=AAEC/w==,format=base64");
    g_assert_cmpint(qcrypto_secret_lookup("b", &raw, &len, &error_abort),
                    ==, 0);
    g_assert_cmpint(len, ==, 4);
    g_assert_cmpmem(raw, 4, "\x00\x01\x02\xff", 4);
    g_assert_cmpint(raw[4], ==, 0);
    /* Not UTF-8. */
    g_assert_null(qcrypto_secret_lookup_as_utf8("b", &err));
    assert_error(&err, "Data from secret b is not valid UTF-8");
    b64 = qcrypto_secret_lookup_as_base64("b", &error_abort);
    g_assert_cmpstr(b64, ==, "AAEC/w==");

    assert_add_fails("secret,id=x,data=!!!,format=base64",
                     "Base64 data contains invalid characters");
    assert_add_fails("secret,id=x,data=x,format=hex",
                     "Parameter 'format' does not accept value 'hex'");
    assert_add_fails("secret,id=x", "Either 'file' or 'data' must be "
                     "provided");
    assert_add_fails("secret,id=x,data=x,file=y",
                     "'file' and 'data' are mutually exclusive");
    assert_add_fails("secret,id=x,data=x,loaded=on",
                     "Property 'secret.loaded' is not writable");
    /* An empty secret is a secret. */
    assert_add_ok("secret,id=empty,data=");

    /* Properties, as qemu-storage-daemon reports them. */
    data = qom_get("/objects/plain", "data");
    loaded = qom_get("/objects/plain", "loaded");
    format = qom_get("/objects/b", "format");
    keyid = qom_get("/objects/plain", "keyid");
    g_assert_cmpstr(json_string_value(data), ==, "hello");
    g_assert_true(json_is_true(loaded));
    g_assert_cmpstr(json_string_value(format), ==, "base64");
    g_assert_cmpstr(json_string_value(keyid), ==, "");
    {
        g_autofree char *list = qom_list("/objects/plain");

        g_assert_cmpstr(list, ==, "type:string iv:string keyid:string "
                        "loaded:bool format:QCryptoSecretFormat "
                        "file:string data:string");
    }
    {
        g_autofree char *m1 = qom_set("/objects/plain", "loaded", "false");
        g_autofree char *m2 = qom_set("/objects/plain", "format", "\"nope\"");
        g_autofree char *m3 = qom_set("/objects/plain", "data", "5");

        g_assert_cmpstr(m1, ==, "Property 'secret.loaded' is not writable");
        g_assert_cmpstr(m2, ==,
                        "Parameter 'format' does not accept value 'nope'");
        g_assert_cmpstr(m3, ==,
                        "Invalid parameter type for 'data', expected: string");
    }
    /* Changing data afterwards changes what is read, not the secret. */
    g_assert_null(qom_set("/objects/plain", "data", "\"z\""));
    s = secret_utf8("plain");
    g_assert_cmpstr(s, ==, "hello");
    g_clear_pointer(&s, g_free);

    /* Lookups. */
    g_assert_cmpint(qcrypto_secret_lookup("nope", &raw, &len, &err), ==, -1);
    assert_error(&err, "No secret with id 'nope'");
    assert_add_ok("throttle-group,id=tg");
    g_assert_cmpint(qcrypto_secret_lookup("tg", &raw, &len, &err), ==, -1);
    assert_error(&err, "Object with id 'tg' is not a secret");

    user_creatable_cleanup();
    unlink(file);
    rmdir(dir);
}

/* FIPS-197 appendix C.3: AES-256. */
static void test_aes256_fips197(void)
{
    uint8_t key[32], pt[16], ct[16], out[16];
    static const uint8_t expected[16] = {
        0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf,
        0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89,
    };
    AES256Key k;

    for (int i = 0; i < 32; i++) {
        key[i] = i;
    }
    for (int i = 0; i < 16; i++) {
        pt[i] = (uint8_t)(i * 0x11);
    }
    aes256_expand_key(&k, key);
    aes256_encrypt_block(&k, pt, ct);
    g_assert_cmpmem(ct, 16, expected, 16);
    aes256_decrypt_block(&k, ct, out);
    g_assert_cmpmem(out, 16, pt, 16);
}

/*
 * A secret encrypted with another: the vector was made with
 *   printf 'strata secret 123' | openssl enc -aes-256-cbc \
 *     -K 000102...1f -iv f0f1...ff | base64
 * and Debian's qemu-io 7.2 accepts the same --object options.
 */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define IV_B64 "8PHy8/T19vf4+fr7/P3+/w=="
#define CT_B64 "stqFMRSQZlMnQQNrV8i+3iGqi0zB4IQeXaBE2ZeiKt0="

static void test_secret_encrypted(void)
{
    g_autofree char *s = NULL;

    assert_add_ok("secret,id=k,data=" KEY_B64 ",format=base64");
    assert_add_ok("secret,id=enc,data=" CT_B64 ",format=base64,keyid=k,iv="
                  IV_B64);
    s = secret_utf8("enc");
    g_assert_cmpstr(s, ==, "strata secret 123");

    assert_add_fails("secret,id=x,data=x,keyid=nope", "No secret with id "
                     "'nope'");
    assert_add_ok("secret,id=short,data=short");
    assert_add_fails("secret,id=x,data=x,keyid=short,iv=AAAA",
                     "Key should be 32 bytes in length");
    assert_add_fails("secret,id=x,data=x,keyid=k",
                     "IV is required to decrypt secret");
    assert_add_fails("secret,id=x,data=x,keyid=k,iv=AAAA",
                     "IV should be 16 bytes in length not 3");
    assert_add_fails("secret,id=x,data=x,keyid=k,iv=" IV_B64,
                     "Length 1 must be a multiple of block size 16");
    /* Without format=base64 the base64 text itself is the ciphertext. */
    assert_add_fails("secret,id=x,data=" CT_B64 ",keyid=k,iv=" IV_B64,
                     "Length 44 must be a multiple of block size 16");
    /* Garbage in the padding byte (qemu-io 7.2 reports the same 156). */
    assert_add_fails("secret,id=x,data=eHh4eHh4eHh4eHh4eHh4eA==,"
                     "format=base64,keyid=k,iv=" IV_B64,
                     "Incorrect number of padding bytes (156) found on "
                     "decrypted data");
    /* A secret cannot decrypt itself: it has no data yet. */
    assert_add_fails("secret,id=self,data=x,keyid=self,iv=" IV_B64,
                     "Secret with id 'self' has no data");
    user_creatable_cleanup();
}

/* ---- iothread ---- */

static void test_iothread(void)
{
    g_autofree char *list = NULL;
    char *msg;

    assert_add_ok("iothread,id=io0,poll-max-ns=100");
    g_assert_nonnull(iothread_by_id("io0"));
    g_assert_null(iothread_by_id("nope"));
    g_assert_cmpint(qom_get_int("/objects/io0", "poll-max-ns"), ==, 100);
    g_assert_cmpint(qom_get_int("/objects/io0", "poll-grow"), ==, 0);
    g_assert_cmpint(qom_get_int("/objects/io0", "thread-pool-max"), ==, 64);
    g_assert_cmpint(qom_get_int("/objects/io0", "thread-pool-min"), ==, 0);
    list = qom_list("/objects/io0");
    g_assert_cmpstr(list, ==, "type:string aio-max-batch:int "
                    "thread-pool-min:int thread-pool-max:int "
                    "poll-max-ns:int poll-grow:int poll-shrink:int");

    assert_add_ok("iothread,id=io1");
    g_assert_cmpint(qom_get_int("/objects/io1", "poll-max-ns"), ==, 32768);

    assert_add_fails("iothread,id=x,poll-max-ns=-1",
                     "poll-max-ns value must be in range [0, "
                     "9223372036854775807]");
    assert_add_fails("iothread,id=x,thread-pool-min=10,thread-pool-max=5",
                     "bad thread-pool-min/thread-pool-max values");
    assert_add_fails("iothread,id=x,thread-pool-max=0",
                     "bad thread-pool-min/thread-pool-max values");
    assert_add_fails("iothread,id=x,poll-max-ns=1.5",
                     "Parameter 'poll-max-ns' expects integer");

    g_assert_null(qom_set("/objects/io0", "poll-grow", "3000000000"));
    g_assert_cmpint(qom_get_int("/objects/io0", "poll-grow"), ==,
                    3000000000LL);
    msg = qom_set("/objects/io0", "poll-grow", "-3");
    g_assert_cmpstr(msg, ==,
                    "poll-grow value must be in range [0, 9223372036854775807]");
    g_free(msg);
    msg = qom_set("/objects/io0", "poll-grow", "\"x\"");
    g_assert_cmpstr(msg, ==,
                    "Invalid parameter type for 'poll-grow', expected: "
                    "integer");
    g_free(msg);
    /*
     * As in QEMU the value is stored before the pool is checked, so a bad
     * thread-pool-max makes later event-loop settings fail too.
     */
    msg = qom_set("/objects/io0", "thread-pool-max", "3000000000");
    g_assert_cmpstr(msg, ==, "bad thread-pool-min/thread-pool-max values");
    g_free(msg);
    msg = qom_set("/objects/io0", "aio-max-batch", "1");
    g_assert_cmpstr(msg, ==, "bad thread-pool-min/thread-pool-max values");
    g_free(msg);
    g_assert_null(qom_set("/objects/io0", "thread-pool-max", "8"));
    g_assert_null(qom_set("/objects/io0", "aio-max-batch", "1"));
    user_creatable_cleanup();
}

/* ---- throttle-group ---- */

static void test_throttle_group_limits(void)
{
    g_autoptr(json_t) limits = NULL;
    g_autofree char *list = NULL;
    char *msg;

    assert_add_ok("throttle-group,id=tg0,limits.bps-total=1000");
    limits = qom_get("/objects/tg0", "limits");
    g_assert_cmpint(json_object_size(limits), ==, 19);
    g_assert_cmpint(qdict_get_int(limits, "bps-total"), ==, 1000);
    g_assert_cmpint(qdict_get_int(limits, "bps-total-max"), ==, 0);
    g_assert_cmpint(qdict_get_int(limits, "iops-read-max-length"), ==, 1);
    g_assert_cmpint(qdict_get_int(limits, "iops-size"), ==, 0);
    g_assert_cmpint(qom_get_int("/objects/tg0", "x-bps-total"), ==, 1000);
    g_assert_cmpint(qom_get_int("/objects/tg0", "x-bps-total-max-length"),
                    ==, 1);
    list = qom_list("tg0");
    g_assert_true(g_str_has_prefix(list, "type:string limits:ThrottleLimits "
                                   "x-iops-total:int"));

    /* Absent members keep their value. */
    g_assert_null(qom_set("/objects/tg0", "limits", "{\"iops-total\": 100}"));
    g_assert_cmpint(qom_get_int("/objects/tg0", "x-bps-total"), ==, 1000);
    g_assert_cmpint(qom_get_int("/objects/tg0", "x-iops-total"), ==, 100);

    msg = qom_set("/objects/tg0", "limits",
                  "{\"iops-total\": 100, \"iops-read\": 5}");
    g_assert_cmpstr(msg, ==, "bps/iops/max total values and read/write "
                    "values cannot be used at the same time");
    g_free(msg);
    msg = qom_set("/objects/tg0", "limits", "{\"bps-total\": -1}");
    g_assert_cmpstr(msg, ==,
                    "bps/iops/max values must be within [0, 1000000000000000]");
    g_free(msg);
    msg = qom_set("/objects/tg0", "limits", "5");
    g_assert_cmpstr(msg, ==,
                    "Invalid parameter type for 'limits', expected: object");
    g_free(msg);
    msg = qom_set("/objects/tg0", "limits", "{\"foo\": 1}");
    g_assert_cmpstr(msg, ==, "Parameter 'limits.foo' is unexpected");
    g_free(msg);
    /* A refused change leaves the limits as they were. */
    g_assert_cmpint(qom_get_int("/objects/tg0", "x-iops-total"), ==, 100);
    g_assert_cmpint(qom_get_int("/objects/tg0", "x-iops-read"), ==, 0);

    msg = qom_set("/objects/tg0", "x-bps-total", "5");
    g_assert_cmpstr(msg, ==, "Property cannot be set after initialization");
    g_free(msg);
    msg = qom_set("/objects/tg0", "x-bps-total", "\"a\"");
    g_assert_cmpstr(msg, ==, "Property cannot be set after initialization");
    g_free(msg);

    /* Creation: the legacy property wins over limits. */
    assert_add_ok("throttle-group,id=a,x-bps-total=100,limits.bps-total=5");
    g_assert_cmpint(qom_get_int("/objects/a", "x-bps-total"), ==, 100);

    assert_add_fails("throttle-group,id=b,limits.bps-total=5,"
                     "limits.bps-total-max=10,"
                     "limits.bps-total-max-length=4294967300",
                     "bps-total-max-length value must be in the range "
                     "[0, 4294967295]");
    assert_add_fails("throttle-group,id=c,x-bps-total=5,x-bps-total-max=10,"
                     "x-bps-total-max-length=4294967300",
                     "x-bps-total-max-length value must be in therange "
                     "[0, 4294967295]");
    assert_add_fails("throttle-group,id=d,x-iops-size=-1",
                     "Property values cannot be negative");
    assert_add_fails("throttle-group,id=f,limits.bps-total=5,"
                     "limits.bps-total-max=10,limits.bps-total-max-length=0",
                     "the burst length cannot be 0");
    assert_add_fails("throttle-group,id=g,limits.bps-total=5,"
                     "limits.bps-total-max-length=-1",
                     "burst length set without burst rate");
    assert_add_fails("throttle-group,id=h,x-bps-total=5,"
                     "x-bps-total-max-length=0",
                     "the burst length cannot be 0");
    assert_add_fails("throttle-group,id=i,x-bps-total=1000000000000001",
                     "bps/iops/max values must be within "
                     "[0, 1000000000000000]");
    assert_add_fails("throttle-group,id=j,x-bps-total=5,x-bps-read=6",
                     "bps/iops/max total values and read/write values "
                     "cannot be used at the same time");
    assert_add_fails("throttle-group,id=k,limits.iops-size=5",
                     "iops size requires an iops value to be set");
    assert_add_fails("throttle-group,id=l,x-bps-total=abc",
                     "Parameter 'x-bps-total' expects integer");
    /* QEMU takes a negative iops-size in limits as it is. */
    assert_add_ok("throttle-group,id=e,limits.iops-total=5,"
                  "limits.iops-size=-1");
    user_creatable_cleanup();
}

static void test_throttle_group_in_use(void)
{
    ThrottleGroupMember tgm = { 0 };
    ThrottleConfig cfg;
    Error *err = NULL;

    assert_add_ok("throttle-group,id=tg0,x-iops-total=7");
    g_assert_true(throttle_group_exists("tg0"));
    throttle_group_register_tgm(&tgm, "tg0", qemu_get_aio_context());
    g_assert_cmpstr(throttle_group_get_name(&tgm), ==, "tg0");
    throttle_group_get_config(&tgm, &cfg);
    g_assert_cmpint(cfg.buckets[THROTTLE_OPS_TOTAL].avg, ==, 7);

    g_assert_false(user_creatable_del("tg0", &err));
    assert_error(&err, "object 'tg0' is in use, can not be deleted");
    throttle_group_unregister_tgm(&tgm);
    g_assert_true(user_creatable_del("tg0", &error_abort));
    g_assert_false(throttle_group_exists("tg0"));

    /* An implicit group (block_set_io_throttle) owns its name. */
    throttle_group_register_tgm(&tgm, "implicit", qemu_get_aio_context());
    g_assert_true(throttle_group_exists("implicit"));
    g_assert_null(object_resolve_path("/objects/implicit", NULL));
    assert_add_fails("throttle-group,id=implicit",
                     "A group with this name already exists");
    throttle_group_unregister_tgm(&tgm);
    g_assert_false(throttle_group_exists("implicit"));
    assert_add_ok("throttle-group,id=implicit");
    user_creatable_cleanup();
    g_assert_false(throttle_group_exists("implicit"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();

    g_test_add_func("/qom/paths", test_paths);
    g_test_add_func("/qom/qmp-commands", test_qom_commands);
    g_test_add_func("/qom/add/errors", test_add_errors);
    g_test_add_func("/qom/add/help", test_help);
    g_test_add_func("/qom/add/cmdline-exit", test_process_cmdline_exit);
    g_test_add_func("/qom/secret/data", test_secret_data);
    g_test_add_func("/qom/secret/aes256-fips197", test_aes256_fips197);
    g_test_add_func("/qom/secret/encrypted", test_secret_encrypted);
    g_test_add_func("/qom/iothread", test_iothread);
    g_test_add_func("/qom/throttle-group/limits", test_throttle_group_limits);
    g_test_add_func("/qom/throttle-group/in-use", test_throttle_group_in_use);
    return g_test_run();
}
