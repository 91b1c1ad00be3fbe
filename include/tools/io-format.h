/*
 * Text helpers of the qemu-io command engine: number parsing, the human
 * and machine statistics formats, hex dumps and command-line splitting.
 */
#ifndef TOOLS_IO_FORMAT_H
#define TOOLS_IO_FORMAT_H

#include "strata/osdep.h"

/*
 * A byte count or rate in qemu-io's style: the largest binary unit it
 * reaches ("64 KiB", "1.500 MiB", "1023.999 KiB"), three decimals for
 * units and six for plain bytes ("1022.700146 bytes"), with an all-zero
 * fraction left out ("512 bytes", "0 bytes").  Caller frees.
 */
char *qemuio_size_str(double value);

/*
 * An elapsed time.  The human form is "SS.ss sec" while the whole
 * seconds are zero ("00.01 sec") and "H:MM:SS.ss" otherwise; @machine
 * always gives "H:MM:SS.ss".  Seconds are rounded to hundredths.  Caller
 * frees.
 */
char *qemuio_time_str(int64_t elapsed_ns, bool machine);

/*
 * The statistics printed after a request: with @machine one line
 * "bytes,ops,time,bytes/s,ops/s", otherwise
 *   "<op> <total>/<count> bytes at offset <offset>"
 *   "<size>, <ops> ops; <time> (<rate>/sec and <ops/s> ops/sec)".
 * Caller frees.
 */
char *qemuio_stats_str(const char *op, int64_t elapsed_ns, int64_t offset,
                       int64_t count, int64_t total, int ops, bool machine);

/*
 * A size argument of a command: what qemu_strtosz() accepts, at most
 * INT64_MAX.  Returns the value, or -EINVAL / -ERANGE.
 */
int64_t qemuio_parse_num(const char *arg);

/* The message qemu-io prints when qemuio_parse_num() failed.  Caller frees. */
char *qemuio_parse_num_error(int64_t err, const char *arg);

/*
 * A pattern byte (-P): any number strtol() reads in base 0 ("0xab",
 * "0377", "171") from 0 to 255.  Returns the byte or -1.
 */
int qemuio_parse_pattern(const char *arg);

/*
 * Split a command line into words at spaces (tabs are part of a word;
 * runs of spaces separate like one).  Returns a NULL-terminated vector
 * (free with g_strfreev) and its length in *@argc.
 */
char **qemuio_split_line(const char *line, int *argc);

/*
 * Hex and character dump of @len bytes of @buf that sit at @offset of the
 * image: 16 bytes a line, "%08x:  " offset, bytes as "xx ", one more
 * space, then letters and digits as themselves and everything else as
 * '.'.  Caller frees.
 */
char *qemuio_dump_str(const void *buf, int64_t offset, int64_t len);

#endif
