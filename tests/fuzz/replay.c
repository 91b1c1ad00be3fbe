/*
 * Run a fuzz target over files (a corpus, or crashes found by libFuzzer)
 * without libFuzzer: "replay FILE|DIR...".  The unit test suite runs each
 * target over its checked-in corpus this way.
 */
#include "strata/osdep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "replay: %s\n", err->message);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
            g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
            const char *name;

            if (!dir) {
                fprintf(stderr, "replay: cannot open %s\n", argv[i]);
                return 1;
            }
            while ((name = g_dir_read_name(dir))) {
                g_ptr_array_add(names, g_build_filename(argv[i], name, NULL));
            }
            for (guint j = 0; j < names->len; j++) {
                if (run_file(names->pdata[j])) {
                    return 1;
                }
                count++;
            }
        } else {
            if (run_file(argv[i])) {
                return 1;
            }
            count++;
        }
    }
    printf("replay: %u inputs ran\n", count);
    return count ? 0 : 1;
}
