/*
 * AES-256 (FIPS-197) block encryption and decryption and CBC decryption:
 * what secret objects need to decrypt a secret sent encrypted with another
 * secret's key.  Table-free and small rather than fast.
 */
#ifndef CRYPTO_AES_H
#define CRYPTO_AES_H

#include "strata/osdep.h"
#include "util/error.h"

#define AES_BLOCK_SIZE 16
#define AES256_KEY_SIZE 32
#define AES256_ROUNDS 14

typedef struct AES256Key {
    /* The expanded key: one 16-byte round key per round, plus the first. */
    uint8_t round_key[AES256_ROUNDS + 1][AES_BLOCK_SIZE];
} AES256Key;

void aes256_expand_key(AES256Key *k, const uint8_t key[AES256_KEY_SIZE]);
void aes256_encrypt_block(const AES256Key *k, const uint8_t in[AES_BLOCK_SIZE],
                          uint8_t out[AES_BLOCK_SIZE]);
void aes256_decrypt_block(const AES256Key *k, const uint8_t in[AES_BLOCK_SIZE],
                          uint8_t out[AES_BLOCK_SIZE]);

/*
 * Decrypt @len bytes of AES-256-CBC from @in to @out (which may be the
 * same buffer).  @len must be a multiple of the block size; otherwise
 * QEMU's message "Length N must be a multiple of block size 16".
 */
bool aes256_cbc_decrypt(const uint8_t key[AES256_KEY_SIZE],
                        const uint8_t iv[AES_BLOCK_SIZE],
                        const uint8_t *in, uint8_t *out, size_t len,
                        Error **errp);

#endif
