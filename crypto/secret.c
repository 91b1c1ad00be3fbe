/*
 * The secret object type: loads its bytes from data= or file=, decodes
 * base64 or decrypts with another secret's AES-256 key when asked, and
 * answers lookups by id, with QEMU's messages throughout.
 */
#include "strata/osdep.h"
#include "crypto/aes.h"
#include "crypto/secret.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"
#include "qom/types.h"

typedef struct SecretObject {
    Object parent_obj;
    QCryptoSecretFormat format;
    char *data;
    char *file;
    char *keyid;
    char *iv;
    /* The secret itself once loaded, with a NUL after @rawlen bytes. */
    uint8_t *rawdata;
    size_t rawlen;
} SecretObject;

static const char base64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n";

uint8_t *qbase64_decode(const char *input, size_t len, size_t *out_len,
                        Error **errp)
{
    *out_len = 0;
    if (len != (size_t)-1) {
        if (input[len] != '\0') {
            error_setg(errp, "Base64 data is not NUL terminated");
            return NULL;
        }
        if (memchr(input, '\0', len)) {
            error_setg(errp, "Data contains embedded NUL characters");
            return NULL;
        }
    } else {
        len = strlen(input);
    }
    if (strspn(input, base64_chars) != len) {
        error_setg(errp, "Base64 data contains invalid characters");
        return NULL;
    }
    return g_base64_decode(input, out_len);
}

/* The secret's bytes as given (file contents or data), NUL-terminated. */
static uint8_t *secret_load_input(SecretObject *s, size_t *len, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    char *contents;
    gsize n;

    if (s->file) {
        if (s->data) {
            error_setg(errp, "'file' and 'data' are mutually exclusive");
            return NULL;
        }
        if (!g_file_get_contents(s->file, &contents, &n, &gerr)) {
            error_setg(errp, "Unable to read %s: %s", s->file, gerr->message);
            return NULL;
        }
        *len = n;
        return (uint8_t *)contents;
    }
    if (s->data) {
        *len = strlen(s->data);
        return (uint8_t *)g_strdup(s->data);
    }
    error_setg(errp, "Either 'file' or 'data' must be provided");
    return NULL;
}

/*
 * Decrypt @input with the AES-256 key of secret @s->keyid in CBC mode; the
 * plaintext ends with PKCS#7-style padding (1 to 16 bytes, each holding
 * the padding length), which is removed.
 */
static uint8_t *secret_decrypt(SecretObject *s, const uint8_t *input,
                               size_t inputlen, size_t *outlen, Error **errp)
{
    g_autofree uint8_t *key = NULL;
    g_autofree uint8_t *iv = NULL;
    g_autofree uint8_t *decoded = NULL;
    g_autofree uint8_t *plain = NULL;
    size_t keylen, ivlen, len;
    uint8_t pad;

    if (qcrypto_secret_lookup(s->keyid, &key, &keylen, errp) < 0) {
        return NULL;
    }
    if (keylen != AES256_KEY_SIZE) {
        error_setg(errp, "Key should be 32 bytes in length");
        return NULL;
    }
    if (!s->iv) {
        error_setg(errp, "IV is required to decrypt secret");
        return NULL;
    }
    iv = qbase64_decode(s->iv, -1, &ivlen, errp);
    if (!iv) {
        return NULL;
    }
    if (ivlen != AES_BLOCK_SIZE) {
        error_setg(errp, "IV should be 16 bytes in length not %zu", ivlen);
        return NULL;
    }
    if (s->format == QCRYPTO_SECRET_FORMAT_BASE64) {
        decoded = qbase64_decode((const char *)input, inputlen, &len, errp);
        if (!decoded) {
            return NULL;
        }
        input = decoded;
    } else {
        len = inputlen;
    }
    plain = g_malloc0(len + 1);
    if (!aes256_cbc_decrypt(key, iv, input, plain, len, errp)) {
        return NULL;
    }
    /* An empty ciphertext has no padding byte to read. */
    pad = len ? plain[len - 1] : 0;
    if (!len || pad > AES_BLOCK_SIZE || pad > len) {
        error_setg(errp, "Incorrect number of padding bytes (%d) found on "
                   "decrypted data", pad);
        return NULL;
    }
    len -= pad;
    plain[len] = '\0';
    *outlen = len;
    return g_steal_pointer(&plain);
}

static bool secret_load(SecretObject *s, Error **errp)
{
    g_autofree uint8_t *input = NULL;
    uint8_t *output;
    size_t inputlen, outputlen;

    input = secret_load_input(s, &inputlen, errp);
    if (!input) {
        return false;
    }
    if (s->keyid) {
        output = secret_decrypt(s, input, inputlen, &outputlen, errp);
    } else if (s->format == QCRYPTO_SECRET_FORMAT_BASE64) {
        output = qbase64_decode((const char *)input, inputlen, &outputlen,
                                errp);
        if (output) {
            /* Keep the promise of a NUL after the data. */
            output = g_realloc(output, outputlen + 1);
            output[outputlen] = '\0';
        }
    } else {
        output = g_steal_pointer(&input);
        outputlen = inputlen;
    }
    if (!output) {
        return false;
    }
    s->rawdata = output;
    s->rawlen = outputlen;
    return true;
}

static void set_str(char **field, const char *value)
{
    g_free(*field);
    *field = g_strdup(value);
}

static bool secret_complete(Object *obj, ObjectOptions *opts, Error **errp)
{
    SecretObject *s = (SecretObject *)obj;
    SecretProperties *p = &opts->u.secret;

    if (p->has_loaded) {
        error_setg(errp, "Property 'secret.loaded' is not writable");
        return false;
    }
    if (p->has_format) {
        s->format = p->format;
    }
    if (p->has_keyid) {
        set_str(&s->keyid, p->keyid);
    }
    if (p->has_iv) {
        set_str(&s->iv, p->iv);
    }
    if (p->has_data) {
        set_str(&s->data, p->data);
    }
    if (p->has_file) {
        set_str(&s->file, p->file);
    }
    return secret_load(s, errp);
}

static void secret_finalize(Object *obj)
{
    SecretObject *s = (SecretObject *)obj;

    if (s->rawdata) {
        memset(s->rawdata, 0, s->rawlen);
    }
    g_free(s->rawdata);
    g_free(s->data);
    g_free(s->file);
    g_free(s->keyid);
    g_free(s->iv);
}

/* ---- properties ---- */

/*
 * The string options.  As in QEMU they may be changed after the secret was
 * loaded, which changes what qom-get reads but not the secret itself.
 */
static char **secret_str_field(Object *obj, const ObjectProperty *prop)
{
    return (char **)((char *)obj + prop->opaque);
}

static json_t *secret_get_str(Object *obj, const ObjectProperty *prop,
                              Error **errp)
{
    return object_property_str_value(*secret_str_field(obj, prop));
}

static bool secret_set_str(Object *obj, const ObjectProperty *prop,
                           json_t *value, Error **errp)
{
    char *str;

    if (!object_property_parse_str(prop, value, &str, errp)) {
        return false;
    }
    g_free(*secret_str_field(obj, prop));
    *secret_str_field(obj, prop) = str;
    return true;
}

static json_t *secret_get_loaded(Object *obj, const ObjectProperty *prop,
                                 Error **errp)
{
    return json_boolean(((SecretObject *)obj)->rawdata != NULL);
}

static json_t *secret_get_format(Object *obj, const ObjectProperty *prop,
                                 Error **errp)
{
    return json_string(QCryptoSecretFormat_str(((SecretObject *)obj)->format));
}

static bool secret_set_format(Object *obj, const ObjectProperty *prop,
                              json_t *value, Error **errp)
{
    Visitor *v = qobject_input_visitor_new(value);
    QCryptoSecretFormat format;
    bool ok = visit_type_QCryptoSecretFormat(v, prop->name, &format, errp);

    visit_free(v);
    if (ok) {
        ((SecretObject *)obj)->format = format;
    }
    return ok;
}

#define STR_PROP(name, field) \
    { name, "string", NULL, secret_get_str, secret_set_str, \
      offsetof(SecretObject, field) }

static const ObjectProperty secret_properties[] = {
    STR_PROP("iv", iv),
    STR_PROP("keyid", keyid),
    { "loaded", "bool", NULL, secret_get_loaded, NULL, 0 },
    { "format", "QCryptoSecretFormat", NULL, secret_get_format,
      secret_set_format, 0 },
    STR_PROP("file", file),
    STR_PROP("data", data),
    { NULL }
};

const ObjectTypeInfo secret_type_info = {
    .name = "secret",
    .instance_size = sizeof(SecretObject),
    .user_creatable = true,
    .complete = secret_complete,
    .finalize = secret_finalize,
    .properties = secret_properties,
};

/* ---- lookups ---- */

int qcrypto_secret_lookup(const char *id, uint8_t **data, size_t *len,
                          Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                id);
    SecretObject *s;

    if (!obj) {
        error_setg(errp, "No secret with id '%s'", id);
        return -1;
    }
    s = (SecretObject *)object_dynamic_cast(obj, "secret");
    if (!s) {
        error_setg(errp, "Object with id '%s' is not a secret", id);
        return -1;
    }
    if (!s->rawdata) {
        error_setg(errp, "Secret with id '%s' has no data", id);
        return -1;
    }
    *data = g_malloc(s->rawlen + 1);
    memcpy(*data, s->rawdata, s->rawlen);
    (*data)[s->rawlen] = '\0';
    *len = s->rawlen;
    return 0;
}

char *qcrypto_secret_lookup_as_utf8(const char *id, Error **errp)
{
    uint8_t *data;
    size_t len;

    if (qcrypto_secret_lookup(id, &data, &len, errp) < 0) {
        return NULL;
    }
    if (!g_utf8_validate((const char *)data, len, NULL)) {
        error_setg(errp, "Data from secret %s is not valid UTF-8", id);
        g_free(data);
        return NULL;
    }
    return (char *)data;
}

char *qcrypto_secret_lookup_as_base64(const char *id, Error **errp)
{
    g_autofree uint8_t *data = NULL;
    size_t len;

    if (qcrypto_secret_lookup(id, &data, &len, errp) < 0) {
        return NULL;
    }
    return g_base64_encode(data, len);
}
