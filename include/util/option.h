/*
 * QemuOpts: described option lists ("-o size=1G,cluster_size=64k"), their
 * parsing, typed access, help listings and conversion to JSON objects.
 */
#ifndef UTIL_OPTION_H
#define UTIL_OPTION_H

#include <jansson.h>

#include "strata/osdep.h"
#include "util/error.h"

typedef enum QemuOptType {
    QEMU_OPT_STRING = 0,    /* no parsing: the value as given */
    QEMU_OPT_BOOL,          /* on/off (see parse_option_bool()) */
    QEMU_OPT_NUMBER,        /* unsigned integer, any base */
    QEMU_OPT_SIZE,          /* size with optional k/M/G/T/P/E suffix */
} QemuOptType;

typedef struct QemuOptDesc {
    const char *name;
    QemuOptType type;
    const char *help;
    const char *def_value_str;  /* default reported by the getters */
} QemuOptDesc;

/* One parsed set of options ("-o a=1,b=2"), private to option.c. */
typedef struct QemuOpts QemuOpts;

/*
 * A list of option descriptions, and the QemuOpts created from it.
 * An empty @desc (first entry {NULL}) accepts any option name, untyped.
 * @implied_opt_name names the value of a first element without '='.
 * With @merge_lists all parses share one QemuOpts (and "id" is refused).
 * Declare lists statically; @head needs no initialiser:
 *
 *     static QemuOptsList raw_create_opts = {
 *         .name = "raw-create-opts",
 *         .desc = {
 *             { .name = "size", .type = QEMU_OPT_SIZE,
 *               .help = "Virtual disk size" },
 *             { NULL }
 *         },
 *     };
 */
typedef struct QemuOptsList {
    const char *name;
    const char *implied_opt_name;
    bool merge_lists;
    GQueue head;                /* of QemuOpts */
    QemuOptDesc desc[];
} QemuOptsList;

/* ---- Creating, finding, deleting ---- */

/*
 * A new empty QemuOpts in @list with identifier @id (may be NULL).  For a
 * merge_lists list, the existing one is returned.  Errors: malformed @id
 * ("Parameter 'id' expects an identifier" + hint), an @id already used in
 * @list ("Duplicate ID '%s' for %s") when @fail_if_exists, an @id given
 * for a merge_lists list ("Invalid parameter 'id'").
 */
QemuOpts *qemu_opts_create(QemuOptsList *list, const char *id,
                           bool fail_if_exists, Error **errp);
/* The QemuOpts of @list with identifier @id (NULL: the one without). */
QemuOpts *qemu_opts_find(QemuOptsList *list, const char *id);
const char *qemu_opts_id(QemuOpts *opts);
/* Remove @opts from its list and free it.  NULL is a no-op. */
void qemu_opts_del(QemuOpts *opts);
/* Delete every QemuOpts of @list. */
void qemu_opts_reset(QemuOptsList *list);

/* ---- Parsing "name=value,..." ---- */

/*
 * Add the options in @params to @opts.  ",," stands for ',' in values.
 * If @firstname is not NULL, a first element without '=' is its value.
 * Other elements without '=' are flags: "foo" means foo=on, "nofoo"
 * foo=off.  "id=..." elements are ignored here.  Each option is checked
 * against the list: unknown names fail with "Invalid parameter '%s'",
 * badly formed values with the messages of parse_option_bool(),
 * parse_option_number() and parse_option_size().  Options added before
 * an error stay in @opts.
 */
bool qemu_opts_do_parse(QemuOpts *opts, const char *params,
                        const char *firstname, Error **errp);

/*
 * Create a QemuOpts in @list from @params ("id=X" in it sets the
 * identifier).  With @permit_abbrev the first element may omit
 * "<list->implied_opt_name>=".
 */
QemuOpts *qemu_opts_parse(QemuOptsList *list, const char *params,
                          bool permit_abbrev, Error **errp);

/*
 * qemu_opts_parse() for command-line input: warns about short-form flags
 * ("short-form boolean option 'foo' deprecated"), prints the help listing
 * when a "help" / "?" flag is given (for lists with descriptions), and
 * reports errors on stderr.  Returns NULL after help or an error.
 */
QemuOpts *qemu_opts_parse_noisily(QemuOptsList *list, const char *params,
                                  bool permit_abbrev);

/*
 * The general form of the two above: warns about short-form flags if
 * @warn_on_flag; if @help_wanted is not NULL, a "help" / "?" flag stops
 * parsing, sets *@help_wanted and returns NULL without an error.
 */
QemuOpts *qemu_opts_parse_full(QemuOptsList *list, const char *params,
                               bool permit_abbrev, bool warn_on_flag,
                               bool *help_wanted, Error **errp);

/* True if an element of the unparsed string @param is "help" or "?". */
bool has_help_option(const char *param);
/*
 * False for option strings qemu-img refuses ("Invalid option list"): an
 * empty string or element, a trailing ',', or an element starting with ','.
 */
bool is_valid_option_list(const char *param);

/* ---- Reading options ----
 *
 * The getters return the last value given for @name, else the
 * description's default (def_value_str), else @defval (NULL for strings).
 * The typed getters require @name to be described with that type.
 * The _del variants also remove every value given for @name and return
 * the value (a string the caller frees, for qemu_opt_get_del()).
 */
const char *qemu_opt_get(QemuOpts *opts, const char *name);
bool qemu_opt_get_bool(QemuOpts *opts, const char *name, bool defval);
uint64_t qemu_opt_get_number(QemuOpts *opts, const char *name,
                             uint64_t defval);
uint64_t qemu_opt_get_size(QemuOpts *opts, const char *name,
                           uint64_t defval);
char *qemu_opt_get_del(QemuOpts *opts, const char *name);
bool qemu_opt_get_bool_del(QemuOpts *opts, const char *name, bool defval);
uint64_t qemu_opt_get_number_del(QemuOpts *opts, const char *name,
                                 uint64_t defval);
uint64_t qemu_opt_get_size_del(QemuOpts *opts, const char *name,
                               uint64_t defval);
/* True if a value was given for @name (defaults do not count). */
bool qemu_opt_has(QemuOpts *opts, const char *name);
/* True if an option named "help" or "?" was given. */
bool qemu_opt_has_help_opt(QemuOpts *opts);

typedef int (*qemu_opt_loopfunc)(void *opaque, const char *name,
                                 const char *value, Error **errp);
/* Call @func for each value given, in order; stops at a nonzero return. */
int qemu_opt_foreach(QemuOpts *opts, qemu_opt_loopfunc func, void *opaque,
                     Error **errp);
typedef int (*qemu_opts_loopfunc)(void *opaque, QemuOpts *opts,
                                  Error **errp);
/* Call @func for each QemuOpts of @list; stops at a nonzero return. */
int qemu_opts_foreach(QemuOptsList *list, qemu_opts_loopfunc func,
                      void *opaque, Error **errp);

/* ---- Setting options ---- */

/* Add a value, checked like qemu_opts_do_parse() does. */
bool qemu_opt_set(QemuOpts *opts, const char *name, const char *value,
                  Error **errp);
bool qemu_opt_set_bool(QemuOpts *opts, const char *name, bool val,
                       Error **errp);
bool qemu_opt_set_number(QemuOpts *opts, const char *name, int64_t val,
                         Error **errp);
/*
 * Remove the last value of @name (only for lists accepting any option).
 * Returns 0, or -1 if there was none.
 */
int qemu_opt_unset(QemuOpts *opts, const char *name);

/* ---- Output ---- */

/*
 * The help listing of "-o help": one line per option, sorted,
 * "  name=<type>" padded to 24 columns and " - help text".  Types print
 * as <str>, <bool (on/off)>, <num>, <size>.  With @print_caption, a
 * "<list name> options:" line first; "There are no options for %s." for
 * an empty list.
 */
void qemu_opts_print_help(QemuOptsList *list, bool print_caption);

/*
 * The option summary "qemu-img create" prints after "Formatting ...":
 * for each described option in order that has a value or a default,
 * "name=value" joined by @separator; numbers and sizes given by the user
 * print as signed 64-bit decimals, ',' in strings is doubled.  Lists
 * accepting any option print every value given.  Caller frees.
 */
char *qemu_opts_to_string(QemuOpts *opts, const char *separator);
/* Print qemu_opts_to_string() to stdout, without a newline. */
void qemu_opts_print(QemuOpts *opts, const char *separator);

/* ---- Combining lists ---- */

/*
 * Return @dst with the descriptions of @list appended, skipping names @dst
 * already has (the first description of a name wins).  @dst must be NULL
 * (start a new nameless list) or a list returned by this function; it is
 * reallocated, so it must not have QemuOpts yet.  Free the result with
 * qemu_opts_free().  Typical use merges a format's and a protocol's
 * creation options: qemu_opts_append(qemu_opts_append(NULL, fmt), proto).
 */
QemuOptsList *qemu_opts_append(QemuOptsList *dst, QemuOptsList *list);
void qemu_opts_free(QemuOptsList *list);

/*
 * Check the options of @opts, created in a list accepting anything,
 * against @desc, and parse their values.
 */
bool qemu_opts_validate(QemuOpts *opts, const QemuOptDesc *desc,
                        Error **errp);

/* ---- JSON objects ---- */

/*
 * Store the options as strings into @qdict (a new object if NULL, which
 * is returned): "id" first if set, then each name with its last value.
 */
json_t *qemu_opts_to_qdict(QemuOpts *opts, json_t *qdict);
/*
 * As qemu_opts_to_qdict(), but only options described in @list (all if
 * NULL), and removing them from @opts if @del.
 */
json_t *qemu_opts_to_qdict_filtered(QemuOpts *opts, json_t *qdict,
                                    QemuOptsList *list, bool del);
/*
 * Move the members of @qdict that @opts' list describes (all, for lists
 * accepting anything) into @opts.  Numbers and booleans become strings
 * ("on"/"off"); objects, arrays and "id" are dropped from @qdict without
 * being set.
 */
bool qemu_opts_absorb_qdict(QemuOpts *opts, json_t *qdict, Error **errp);
/* A new QemuOpts in @list from @qdict's members ("id" sets the id). */
QemuOpts *qemu_opts_from_qdict(QemuOptsList *list, const json_t *qdict,
                               Error **errp);

#endif
