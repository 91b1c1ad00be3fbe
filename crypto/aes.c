/*
 * AES-256 from FIPS-197: the S-box is derived once from its definition
 * (inverse in GF(2^8) followed by the affine map) instead of being typed in.
 */
#include "strata/osdep.h"
#include "crypto/aes.h"

static uint8_t sbox[256];
static uint8_t inv_sbox[256];

/* Multiply by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
static uint8_t xtime(uint8_t a)
{
    return (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
}

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;

    while (b) {
        if (b & 1) {
            r ^= a;
        }
        a = xtime(a);
        b >>= 1;
    }
    return r;
}

static uint8_t rotl8(uint8_t x, int n)
{
    return (uint8_t)((x << n) | (x >> (8 - n)));
}

static void aes_init_sbox(void)
{
    static bool done;

    if (done) {
        return;
    }
    for (int i = 0; i < 256; i++) {
        uint8_t inv = 0;

        /* 0 has no inverse and maps to 0 before the affine step. */
        for (int j = 1; i && j < 256; j++) {
            if (gf_mul((uint8_t)i, (uint8_t)j) == 1) {
                inv = (uint8_t)j;
                break;
            }
        }
        sbox[i] = inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^
                  rotl8(inv, 4) ^ 0x63;
        inv_sbox[sbox[i]] = (uint8_t)i;
    }
    done = true;
}

void aes256_expand_key(AES256Key *k, const uint8_t key[AES256_KEY_SIZE])
{
    /* 4 * (rounds + 1) words of 4 bytes; the key fills the first 8. */
    uint8_t w[4 * (AES256_ROUNDS + 1)][4];
    uint8_t rcon = 1;

    aes_init_sbox();
    memcpy(w, key, AES256_KEY_SIZE);
    for (int i = 8; i < 4 * (AES256_ROUNDS + 1); i++) {
        uint8_t t[4];

        memcpy(t, w[i - 1], 4);
        if (i % 8 == 0) {
            uint8_t first = t[0];

            t[0] = sbox[t[1]] ^ rcon;
            t[1] = sbox[t[2]];
            t[2] = sbox[t[3]];
            t[3] = sbox[first];
            rcon = xtime(rcon);
        } else if (i % 8 == 4) {
            for (int j = 0; j < 4; j++) {
                t[j] = sbox[t[j]];
            }
        }
        for (int j = 0; j < 4; j++) {
            w[i][j] = w[i - 8][j] ^ t[j];
        }
    }
    memcpy(k->round_key, w, sizeof(k->round_key));
}

static void add_round_key(uint8_t s[16], const uint8_t rk[16])
{
    for (int i = 0; i < 16; i++) {
        s[i] ^= rk[i];
    }
}

/* The state is column-major: byte r of column c is s[4 * c + r]. */
static void shift_rows(uint8_t s[16], bool inverse)
{
    uint8_t t[16];

    for (int c = 0; c < 4; c++) {
        for (int r = 0; r < 4; r++) {
            int from = inverse ? (c - r + 4) % 4 : (c + r) % 4;

            t[4 * c + r] = s[4 * from + r];
        }
    }
    memcpy(s, t, 16);
}

static void mix_columns(uint8_t s[16], bool inverse)
{
    /* The first row of the (inverse) MixColumns matrix; rows rotate. */
    static const uint8_t fwd[4] = { 2, 3, 1, 1 };
    static const uint8_t inv[4] = { 14, 11, 13, 9 };
    const uint8_t *m = inverse ? inv : fwd;

    for (int c = 0; c < 4; c++) {
        uint8_t col[4];

        memcpy(col, &s[4 * c], 4);
        for (int r = 0; r < 4; r++) {
            uint8_t v = 0;

            for (int j = 0; j < 4; j++) {
                v ^= gf_mul(m[(j - r + 4) % 4], col[j]);
            }
            s[4 * c + r] = v;
        }
    }
}

void aes256_encrypt_block(const AES256Key *k, const uint8_t in[AES_BLOCK_SIZE],
                          uint8_t out[AES_BLOCK_SIZE])
{
    uint8_t s[16];

    memcpy(s, in, 16);
    add_round_key(s, k->round_key[0]);
    for (int round = 1; round <= AES256_ROUNDS; round++) {
        for (int i = 0; i < 16; i++) {
            s[i] = sbox[s[i]];
        }
        shift_rows(s, false);
        if (round != AES256_ROUNDS) {
            mix_columns(s, false);
        }
        add_round_key(s, k->round_key[round]);
    }
    memcpy(out, s, 16);
}

void aes256_decrypt_block(const AES256Key *k, const uint8_t in[AES_BLOCK_SIZE],
                          uint8_t out[AES_BLOCK_SIZE])
{
    uint8_t s[16];

    memcpy(s, in, 16);
    for (int round = AES256_ROUNDS; round >= 1; round--) {
        add_round_key(s, k->round_key[round]);
        if (round != AES256_ROUNDS) {
            mix_columns(s, true);
        }
        shift_rows(s, true);
        for (int i = 0; i < 16; i++) {
            s[i] = inv_sbox[s[i]];
        }
    }
    add_round_key(s, k->round_key[0]);
    memcpy(out, s, 16);
}

bool aes256_cbc_decrypt(const uint8_t key[AES256_KEY_SIZE],
                        const uint8_t iv[AES_BLOCK_SIZE],
                        const uint8_t *in, uint8_t *out, size_t len,
                        Error **errp)
{
    AES256Key k;
    uint8_t prev[AES_BLOCK_SIZE];

    if (len % AES_BLOCK_SIZE) {
        error_setg(errp, "Length %zu must be a multiple of block size %d",
                   len, AES_BLOCK_SIZE);
        return false;
    }
    aes256_expand_key(&k, key);
    memcpy(prev, iv, AES_BLOCK_SIZE);
    for (size_t off = 0; off < len; off += AES_BLOCK_SIZE) {
        uint8_t cipher[AES_BLOCK_SIZE];

        /* Keep the ciphertext: @out may overwrite @in. */
        memcpy(cipher, in + off, AES_BLOCK_SIZE);
        aes256_decrypt_block(&k, cipher, out + off);
        for (int i = 0; i < AES_BLOCK_SIZE; i++) {
            out[off + i] ^= prev[i];
        }
        memcpy(prev, cipher, AES_BLOCK_SIZE);
    }
    memset(&k, 0, sizeof(k));
    return true;
}
