/*
 * Secret objects (--object secret,id=ID,data=... | file=...): passwords
 * and keys that other options name by id, optionally base64-encoded or
 * AES-256-CBC encrypted with another secret (keyid, iv).
 */
#ifndef CRYPTO_SECRET_H
#define CRYPTO_SECRET_H

#include "qom/object.h"

/*
 * The bytes of secret @id: *@data (NUL-terminated, g_free it) and *@len.
 * -1 with QEMU's message if there is no such secret.
 */
int qcrypto_secret_lookup(const char *id, uint8_t **data, size_t *len,
                          Error **errp);

/* The secret as a string; NULL with an error if it is not valid UTF-8. */
char *qcrypto_secret_lookup_as_utf8(const char *id, Error **errp);

/* The secret encoded in base64. */
char *qcrypto_secret_lookup_as_base64(const char *id, Error **errp);

/*
 * QEMU's strict base64 check before decoding: only the base64 alphabet,
 * '=' and newlines; with @len other than -1 the text must have no NUL
 * before input[len] and a NUL there.
 */
uint8_t *qbase64_decode(const char *input, size_t len, size_t *out_len,
                        Error **errp);

#endif
