/*
 * QemuOpts: option lists with typed descriptions, QEMU's "a=b,c=d" parser
 * and messages, help listings, and conversion from and to JSON objects.
 */
#include "strata/osdep.h"
#include "util/cutils.h"
#include "util/option.h"
#include "util/qdict.h"

typedef struct QemuOpt {
    char *name;
    char *str;                  /* the value as given */
    const QemuOptDesc *desc;    /* NULL in lists accepting anything */
    union {
        bool boolean;
        uint64_t uint;
    } value;                    /* parsed, for typed descriptions */
} QemuOpt;

struct QemuOpts {
    char *id;
    QemuOptsList *list;
    GQueue opts;                /* of QemuOpt, in the order given */
};

static const QemuOptDesc *find_desc_by_name(const QemuOptDesc *desc,
                                            const char *name)
{
    for (; desc && desc->name; desc++) {
        if (g_str_equal(desc->name, name)) {
            return desc;
        }
    }
    return NULL;
}

static bool opts_accepts_any(const QemuOptsList *list)
{
    return list->desc[0].name == NULL;
}

static const char *find_default_by_name(QemuOpts *opts, const char *name)
{
    const QemuOptDesc *desc = find_desc_by_name(opts->list->desc, name);

    return desc ? desc->def_value_str : NULL;
}

/* The last value given for @name */
static GList *opt_find_link(QemuOpts *opts, const char *name)
{
    for (GList *l = opts->opts.tail; l; l = l->prev) {
        QemuOpt *opt = l->data;

        if (g_str_equal(opt->name, name)) {
            return l;
        }
    }
    return NULL;
}

static QemuOpt *opt_find(QemuOpts *opts, const char *name)
{
    GList *l = opt_find_link(opts, name);

    return l ? l->data : NULL;
}

static void opt_free(QemuOpt *opt)
{
    g_free(opt->name);
    g_free(opt->str);
    g_free(opt);
}

static void opt_del_link(QemuOpts *opts, GList *link)
{
    opt_free(link->data);
    g_queue_delete_link(&opts->opts, link);
}

static void opt_del_all(QemuOpts *opts, const char *name)
{
    GList *l;

    while ((l = opt_find_link(opts, name))) {
        opt_del_link(opts, l);
    }
}

/* Append a new value (taking ownership of @value) */
static QemuOpt *opt_create(QemuOpts *opts, const char *name, char *value)
{
    QemuOpt *opt = g_new0(QemuOpt, 1);

    opt->name = g_strdup(name);
    opt->str = value;
    g_queue_push_tail(&opts->opts, opt);
    return opt;
}

static bool opt_parse_value(QemuOpt *opt, Error **errp)
{
    if (!opt->desc) {
        return true;
    }
    switch (opt->desc->type) {
    case QEMU_OPT_STRING:
        return true;
    case QEMU_OPT_BOOL:
        return parse_option_bool(opt->name, opt->str, &opt->value.boolean,
                                 errp);
    case QEMU_OPT_NUMBER:
        return parse_option_number(opt->name, opt->str, &opt->value.uint,
                                   errp);
    case QEMU_OPT_SIZE:
        return parse_option_size(opt->name, opt->str, &opt->value.uint,
                                 errp);
    }
    g_assert_not_reached();
}

/* Check the option just appended; on error remove it. */
static bool opt_validate_last(QemuOpts *opts, Error **errp)
{
    QemuOpt *opt = opts->opts.tail->data;

    opt->desc = find_desc_by_name(opts->list->desc, opt->name);
    if (!opt->desc && !opts_accepts_any(opts->list)) {
        error_setg(errp, "Invalid parameter '%s'", opt->name);
        goto fail;
    }
    if (!opt_parse_value(opt, errp)) {
        goto fail;
    }
    return true;

fail:
    opt_del_link(opts, opts->opts.tail);
    return false;
}

/* ---- Creating, finding, deleting ---- */

QemuOpts *qemu_opts_find(QemuOptsList *list, const char *id)
{
    for (GList *l = list->head.head; l; l = l->next) {
        QemuOpts *opts = l->data;

        if (g_strcmp0(opts->id, id) == 0) {
            return opts;
        }
    }
    return NULL;
}

QemuOpts *qemu_opts_create(QemuOptsList *list, const char *id,
                           bool fail_if_exists, Error **errp)
{
    QemuOpts *opts;

    if (list->merge_lists) {
        if (id) {
            error_setg(errp, "Invalid parameter 'id'");
            return NULL;
        }
        opts = qemu_opts_find(list, NULL);
        if (opts) {
            return opts;
        }
    } else if (id) {
        if (!id_wellformed(id)) {
            error_setg(errp, "Parameter 'id' expects an identifier");
            error_append_hint(errp, "Identifiers consist of letters, digits, "
                              "'-', '.', '_', starting with a letter.\n");
            return NULL;
        }
        opts = qemu_opts_find(list, id);
        if (opts) {
            if (fail_if_exists) {
                error_setg(errp, "Duplicate ID '%s' for %s", id, list->name);
                return NULL;
            }
            return opts;
        }
    }

    opts = g_new0(QemuOpts, 1);
    opts->id = g_strdup(id);
    opts->list = list;
    g_queue_init(&opts->opts);
    g_queue_push_tail(&list->head, opts);
    return opts;
}

const char *qemu_opts_id(QemuOpts *opts)
{
    return opts->id;
}

void qemu_opts_del(QemuOpts *opts)
{
    if (!opts) {
        return;
    }
    g_queue_remove(&opts->list->head, opts);
    g_queue_clear_full(&opts->opts, (GDestroyNotify)opt_free);
    g_free(opts->id);
    g_free(opts);
}

void qemu_opts_reset(QemuOptsList *list)
{
    while (list->head.head) {
        qemu_opts_del(list->head.head->data);
    }
}

/* ---- Parsing ---- */

/*
 * Read a value up to the next single ',' (",," stands for ','), into a
 * new string *@value.  Returns the position of the ending ',' or NUL.
 */
static const char *get_opt_value(const char *p, char **value)
{
    GString *val = g_string_new(NULL);

    for (;;) {
        const char *comma = strchrnul(p, ',');

        g_string_append_len(val, p, comma - p);
        if (comma[0] == ',' && comma[1] == ',') {
            g_string_append_c(val, ',');
            p = comma + 2;
            continue;
        }
        *value = g_string_free(val, false);
        return comma;
    }
}

/*
 * Split off the next element of @params into *@name and *@value.
 * Returns where the following element starts.
 */
static const char *get_opt_name_value(const char *params,
                                      const char *firstname,
                                      bool warn_on_flag, bool *help_wanted,
                                      char **name, char **value)
{
    size_t len = strcspn(params, "=,");
    const char *p;
    bool is_help = false;

    if (params[len] == '=') {
        /* "name=value" */
        *name = g_strndup(params, len);
        p = get_opt_value(params + len + 1, value);
    } else if (firstname) {
        /* "value" of the implied option */
        *name = g_strdup(firstname);
        p = get_opt_value(params, value);
    } else {
        /* "flag" or "noflag" */
        const char *prefix = "";

        *name = g_strndup(params, len);
        p = params + len;
        if (g_str_has_prefix(*name, "no")) {
            memmove(*name, *name + 2, strlen(*name + 2) + 1);
            *value = g_strdup("off");
            prefix = "no";
        } else {
            *value = g_strdup("on");
            is_help = is_help_option(*name);
        }
        if (!is_help && warn_on_flag) {
            Error *warn = NULL;

            error_setg(&warn, "short-form boolean option '%s%s' deprecated",
                       prefix, *name);
            if (g_str_equal(*name, "delay")) {
                error_append_hint(&warn, "Please use nodelay=%s instead\n",
                                  prefix[0] ? "on" : "off");
            } else {
                error_append_hint(&warn, "Please use %s=%s instead\n",
                                  *name, *value);
            }
            warn_report_err(warn);
        }
    }

    assert(!*p || *p == ',');
    if (help_wanted && is_help) {
        *help_wanted = true;
    }
    return *p == ',' ? p + 1 : p;
}

static bool opts_do_parse(QemuOpts *opts, const char *params,
                          const char *firstname, bool warn_on_flag,
                          bool *help_wanted, Error **errp)
{
    const char *p = params;

    while (*p) {
        char *name, *value;

        p = get_opt_name_value(p, firstname, warn_on_flag, help_wanted,
                               &name, &value);
        if (help_wanted && *help_wanted) {
            g_free(name);
            g_free(value);
            return false;
        }
        firstname = NULL;

        if (g_str_equal(name, "id")) {
            /* the caller took the identifier out already */
            g_free(name);
            g_free(value);
            continue;
        }
        opt_create(opts, name, value);
        g_free(name);
        if (!opt_validate_last(opts, errp)) {
            return false;
        }
    }
    return true;
}

bool qemu_opts_do_parse(QemuOpts *opts, const char *params,
                        const char *firstname, Error **errp)
{
    return opts_do_parse(opts, params, firstname, false, NULL, errp);
}

/* The value of the first "id=" element of @params, or NULL. */
static char *opts_parse_id(const char *params)
{
    const char *p = params;

    while (*p) {
        char *name, *value;

        p = get_opt_name_value(p, NULL, false, NULL, &name, &value);
        if (g_str_equal(name, "id")) {
            g_free(name);
            return value;
        }
        g_free(name);
        g_free(value);
    }
    return NULL;
}

QemuOpts *qemu_opts_parse_full(QemuOptsList *list, const char *params,
                               bool permit_abbrev, bool warn_on_flag,
                               bool *help_wanted, Error **errp)
{
    g_autofree char *id = opts_parse_id(params);
    const char *firstname;
    QemuOpts *opts;

    assert(!permit_abbrev || list->implied_opt_name);
    firstname = permit_abbrev ? list->implied_opt_name : NULL;

    opts = qemu_opts_create(list, id, !list->merge_lists, errp);
    if (!opts) {
        return NULL;
    }
    if (!opts_do_parse(opts, params, firstname, warn_on_flag, help_wanted,
                       errp)) {
        qemu_opts_del(opts);
        return NULL;
    }
    return opts;
}

QemuOpts *qemu_opts_parse(QemuOptsList *list, const char *params,
                          bool permit_abbrev, Error **errp)
{
    return qemu_opts_parse_full(list, params, permit_abbrev, false, NULL,
                                errp);
}

QemuOpts *qemu_opts_parse_noisily(QemuOptsList *list, const char *params,
                                  bool permit_abbrev)
{
    Error *err = NULL;
    bool help_wanted = false;
    QemuOpts *opts;

    opts = qemu_opts_parse_full(list, params, permit_abbrev, true,
                                opts_accepts_any(list) ? NULL : &help_wanted,
                                &err);
    if (!opts) {
        assert(!!err + !!help_wanted == 1);
        if (help_wanted) {
            qemu_opts_print_help(list, true);
        } else {
            error_report_err(err);
        }
    }
    return opts;
}

bool has_help_option(const char *param)
{
    const char *p = param;

    while (*p) {
        g_autofree char *value = NULL;

        p = get_opt_value(p, &value);
        if (*p) {
            p++;
        }
        if (is_help_option(value)) {
            return true;
        }
    }
    return false;
}

bool is_valid_option_list(const char *param)
{
    const char *p = param;

    if (!*p) {
        return false;               /* qemu-img refuses "-o ''" too */
    }
    while (*p) {
        g_autofree char *value = NULL;

        p = get_opt_value(p, &value);
        if (*p) {
            p++;
            if (!*p) {
                return false;       /* trailing ',' */
            }
        }
        if (!*value || *value == ',') {
            return false;           /* empty element or leading ',' */
        }
    }
    return true;
}

/* ---- Reading ---- */

const char *qemu_opt_get(QemuOpts *opts, const char *name)
{
    QemuOpt *opt;

    if (!opts) {
        return NULL;
    }
    opt = opt_find(opts, name);
    return opt ? opt->str : find_default_by_name(opts, name);
}

char *qemu_opt_get_del(QemuOpts *opts, const char *name)
{
    QemuOpt *opt;
    char *str;

    if (!opts) {
        return NULL;
    }
    opt = opt_find(opts, name);
    if (!opt) {
        return g_strdup(find_default_by_name(opts, name));
    }
    str = g_steal_pointer(&opt->str);
    opt_del_all(opts, name);
    return str;
}

static bool opt_get_bool(QemuOpts *opts, const char *name, bool defval,
                         bool del)
{
    QemuOpt *opt;
    bool ret = defval;

    if (!opts) {
        return ret;
    }
    opt = opt_find(opts, name);
    if (!opt) {
        const char *def = find_default_by_name(opts, name);

        if (def) {
            parse_option_bool(name, def, &ret, &error_abort);
        }
        return ret;
    }
    assert(opt->desc && opt->desc->type == QEMU_OPT_BOOL);
    ret = opt->value.boolean;
    if (del) {
        opt_del_all(opts, name);
    }
    return ret;
}

static uint64_t opt_get_uint(QemuOpts *opts, const char *name,
                             uint64_t defval, QemuOptType type, bool del)
{
    QemuOpt *opt;
    uint64_t ret = defval;

    if (!opts) {
        return ret;
    }
    opt = opt_find(opts, name);
    if (!opt) {
        const char *def = find_default_by_name(opts, name);

        if (def && type == QEMU_OPT_SIZE) {
            parse_option_size(name, def, &ret, &error_abort);
        } else if (def) {
            parse_option_number(name, def, &ret, &error_abort);
        }
        return ret;
    }
    assert(opt->desc && opt->desc->type == type);
    ret = opt->value.uint;
    if (del) {
        opt_del_all(opts, name);
    }
    return ret;
}

bool qemu_opt_get_bool(QemuOpts *opts, const char *name, bool defval)
{
    return opt_get_bool(opts, name, defval, false);
}

bool qemu_opt_get_bool_del(QemuOpts *opts, const char *name, bool defval)
{
    return opt_get_bool(opts, name, defval, true);
}

uint64_t qemu_opt_get_number(QemuOpts *opts, const char *name,
                             uint64_t defval)
{
    return opt_get_uint(opts, name, defval, QEMU_OPT_NUMBER, false);
}

uint64_t qemu_opt_get_number_del(QemuOpts *opts, const char *name,
                                 uint64_t defval)
{
    return opt_get_uint(opts, name, defval, QEMU_OPT_NUMBER, true);
}

uint64_t qemu_opt_get_size(QemuOpts *opts, const char *name,
                           uint64_t defval)
{
    return opt_get_uint(opts, name, defval, QEMU_OPT_SIZE, false);
}

uint64_t qemu_opt_get_size_del(QemuOpts *opts, const char *name,
                               uint64_t defval)
{
    return opt_get_uint(opts, name, defval, QEMU_OPT_SIZE, true);
}

bool qemu_opt_has(QemuOpts *opts, const char *name)
{
    return opts && opt_find(opts, name) != NULL;
}

bool qemu_opt_has_help_opt(QemuOpts *opts)
{
    for (GList *l = opts->opts.tail; l; l = l->prev) {
        QemuOpt *opt = l->data;

        if (is_help_option(opt->name)) {
            return true;
        }
    }
    return false;
}

int qemu_opt_foreach(QemuOpts *opts, qemu_opt_loopfunc func, void *opaque,
                     Error **errp)
{
    for (GList *l = opts->opts.head; l; l = l->next) {
        QemuOpt *opt = l->data;
        int rc = func(opaque, opt->name, opt->str, errp);

        if (rc) {
            return rc;
        }
    }
    return 0;
}

int qemu_opts_foreach(QemuOptsList *list, qemu_opts_loopfunc func,
                      void *opaque, Error **errp)
{
    GList *next;

    for (GList *l = list->head.head; l; l = next) {
        int rc;

        next = l->next;         /* @func may delete the opts */
        rc = func(opaque, l->data, errp);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* ---- Setting ---- */

bool qemu_opt_set(QemuOpts *opts, const char *name, const char *value,
                  Error **errp)
{
    opt_create(opts, name, g_strdup(value));
    return opt_validate_last(opts, errp);
}

/* Append an already-typed value for @name */
static QemuOpt *opt_create_typed(QemuOpts *opts, const char *name,
                                 char *str, Error **errp)
{
    const QemuOptDesc *desc = find_desc_by_name(opts->list->desc, name);
    QemuOpt *opt;

    if (!desc && !opts_accepts_any(opts->list)) {
        error_setg(errp, "Invalid parameter '%s'", name);
        g_free(str);
        return NULL;
    }
    opt = opt_create(opts, name, str);
    opt->desc = desc;
    return opt;
}

bool qemu_opt_set_bool(QemuOpts *opts, const char *name, bool val,
                       Error **errp)
{
    QemuOpt *opt = opt_create_typed(opts, name,
                                    g_strdup(val ? "on" : "off"), errp);

    if (!opt) {
        return false;
    }
    opt->value.boolean = val;
    return true;
}

bool qemu_opt_set_number(QemuOpts *opts, const char *name, int64_t val,
                         Error **errp)
{
    QemuOpt *opt = opt_create_typed(opts, name,
                                    g_strdup_printf("%" PRId64, val), errp);

    if (!opt) {
        return false;
    }
    opt->value.uint = val;
    return true;
}

int qemu_opt_unset(QemuOpts *opts, const char *name)
{
    GList *l = opt_find_link(opts, name);

    assert(opts_accepts_any(opts->list));
    if (!l) {
        return -1;
    }
    opt_del_link(opts, l);
    return 0;
}

/* ---- Output ---- */

static const char *opt_type_name(QemuOptType type)
{
    static const char *const names[] = {
        [QEMU_OPT_STRING] = "str",
        [QEMU_OPT_BOOL] = "bool (on/off)",
        [QEMU_OPT_NUMBER] = "num",
        [QEMU_OPT_SIZE] = "size",
    };

    assert(type < ARRAY_SIZE(names));
    return names[type];
}

/* Width the "  name=<type>" column is padded to before the help text */
#define HELP_NAME_COLUMNS 24

void qemu_opts_print_help(QemuOptsList *list, bool print_caption)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    for (const QemuOptDesc *desc = list->desc; desc->name; desc++) {
        GString *line = g_string_new(NULL);

        g_string_append_printf(line, "  %s=<%s>", desc->name,
                               opt_type_name(desc->type));
        if (desc->help) {
            while (line->len < HELP_NAME_COLUMNS) {
                g_string_append_c(line, ' ');
            }
            g_string_append_printf(line, " - %s", desc->help);
        }
        g_ptr_array_add(lines, g_string_free(line, false));
    }
    g_ptr_array_sort(lines, (GCompareFunc)qemu_pstrcmp0);

    if (lines->len == 0) {
        if (list->name) {
            printf("There are no options for %s.\n", list->name);
        } else {
            printf("No options.\n");
        }
    } else if (print_caption) {
        if (list->name) {
            printf("%s options:\n", list->name);
        } else {
            printf("Options:\n");
        }
    }
    for (guint i = 0; i < lines->len; i++) {
        printf("%s\n", (const char *)lines->pdata[i]);
    }
}

/* Append @value with every ',' doubled, as the option syntax needs. */
static void append_escaped(GString *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == ',') {
            g_string_append_c(out, ',');
        }
        g_string_append_c(out, *p);
    }
}

char *qemu_opts_to_string(QemuOpts *opts, const char *separator)
{
    GString *out = g_string_new(NULL);
    const char *sep = "";

    if (opts->id) {
        /* well-formed identifiers have no commas */
        g_string_append_printf(out, "id=%s", opts->id);
        sep = separator;
    }

    if (opts_accepts_any(opts->list)) {
        for (GList *l = opts->opts.head; l; l = l->next) {
            QemuOpt *opt = l->data;

            g_string_append_printf(out, "%s%s=", sep, opt->name);
            append_escaped(out, opt->str);
            sep = separator;
        }
        return g_string_free(out, false);
    }

    for (const QemuOptDesc *desc = opts->list->desc; desc->name; desc++) {
        QemuOpt *opt = opt_find(opts, desc->name);
        const char *value = opt ? opt->str : desc->def_value_str;

        if (!value) {
            continue;
        }
        g_string_append_printf(out, "%s%s=", sep, desc->name);
        if (desc->type == QEMU_OPT_STRING) {
            append_escaped(out, value);
        } else if (opt && (desc->type == QEMU_OPT_SIZE ||
                           desc->type == QEMU_OPT_NUMBER)) {
            g_string_append_printf(out, "%" PRId64, (int64_t)opt->value.uint);
        } else {
            g_string_append(out, value);
        }
        sep = separator;
    }
    return g_string_free(out, false);
}

void qemu_opts_print(QemuOpts *opts, const char *separator)
{
    g_autofree char *s = qemu_opts_to_string(opts, separator);

    fputs(s, stdout);
}

/* ---- Combining lists ---- */

static size_t count_descs(const QemuOptsList *list)
{
    size_t n = 0;

    while (list && list->desc[n].name) {
        n++;
    }
    return n;
}

QemuOptsList *qemu_opts_append(QemuOptsList *dst, QemuOptsList *list)
{
    size_t ndst, total;
    bool fresh = !dst;

    if (!list) {
        return dst;
    }
    assert(!dst || g_queue_is_empty(&dst->head));

    ndst = count_descs(dst);
    total = ndst + count_descs(list);
    dst = g_realloc(dst, sizeof(QemuOptsList) +
                    (total + 1) * sizeof(QemuOptDesc));
    if (fresh) {
        dst->name = NULL;
        dst->implied_opt_name = NULL;
        dst->merge_lists = false;
    }
    /* the queue is empty; its pointers may be stale after realloc */
    g_queue_init(&dst->head);
    dst->desc[ndst].name = NULL;

    for (const QemuOptDesc *desc = list->desc; desc->name; desc++) {
        if (!find_desc_by_name(dst->desc, desc->name)) {
            dst->desc[ndst++] = *desc;
            dst->desc[ndst].name = NULL;
        }
    }
    return dst;
}

void qemu_opts_free(QemuOptsList *list)
{
    g_free(list);
}

bool qemu_opts_validate(QemuOpts *opts, const QemuOptDesc *desc,
                        Error **errp)
{
    assert(opts_accepts_any(opts->list));

    for (GList *l = opts->opts.head; l; l = l->next) {
        QemuOpt *opt = l->data;

        opt->desc = find_desc_by_name(desc, opt->name);
        if (!opt->desc) {
            error_setg(errp, "Invalid parameter '%s'", opt->name);
            return false;
        }
        if (!opt_parse_value(opt, errp)) {
            return false;
        }
    }
    return true;
}

/* ---- JSON objects ---- */

json_t *qemu_opts_to_qdict_filtered(QemuOpts *opts, json_t *qdict,
                                    QemuOptsList *list, bool del)
{
    GList *next;

    if (!qdict) {
        qdict = json_object();
    }
    if (opts->id) {
        qdict_put_str(qdict, "id", opts->id);
    }
    for (GList *l = opts->opts.head; l; l = next) {
        QemuOpt *opt = l->data;

        next = l->next;
        if (list && !find_desc_by_name(list->desc, opt->name)) {
            continue;
        }
        qdict_put_str(qdict, opt->name, opt->str);
        if (del) {
            opt_del_link(opts, l);
        }
    }
    return qdict;
}

json_t *qemu_opts_to_qdict(QemuOpts *opts, json_t *qdict)
{
    return qemu_opts_to_qdict_filtered(opts, qdict, NULL, false);
}

/* Set one member of a JSON object as an option (see absorb_qdict). */
static bool opts_set_from_json(QemuOpts *opts, const char *key,
                               const json_t *value, Error **errp)
{
    g_autofree char *str = NULL;

    if (g_str_equal(key, "id")) {
        return true;
    }
    str = qobject_scalar_to_string(value);
    if (!str || json_is_null(value)) {
        return true;            /* objects, arrays and null are skipped */
    }
    return qemu_opt_set(opts, key, str, errp);
}

bool qemu_opts_absorb_qdict(QemuOpts *opts, json_t *qdict, Error **errp)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    const char *key;
    json_t *value;

    json_object_foreach(qdict, key, value) {
        g_ptr_array_add(keys, g_strdup(key));
    }
    for (guint i = 0; i < keys->len; i++) {
        key = keys->pdata[i];
        if (!opts_accepts_any(opts->list) &&
            !find_desc_by_name(opts->list->desc, key)) {
            continue;
        }
        if (!opts_set_from_json(opts, key, json_object_get(qdict, key),
                                errp)) {
            return false;
        }
        json_object_del(qdict, key);
    }
    return true;
}

QemuOpts *qemu_opts_from_qdict(QemuOptsList *list, const json_t *qdict,
                               Error **errp)
{
    QemuOpts *opts = qemu_opts_create(list, qdict_get_try_str(qdict, "id"),
                                      true, errp);
    const char *key;
    json_t *value;

    if (!opts) {
        return NULL;
    }
    json_object_foreach((json_t *)qdict, key, value) {
        if (!opts_set_from_json(opts, key, value, errp)) {
            qemu_opts_del(opts);
            return NULL;
        }
    }
    return opts;
}
