/* sluice: the file bookmark store, one JSON document per connector (contract 3.3).
 * Stored atomically: temp file, fsync, rename, fsync of the directory. */
#ifndef SL_BOOKMARK_H
#define SL_BOOKMARK_H

#include <stddef.h>
#include "core/err.h"
#include "core/buf.h"

/* Path of the connector's bookmark file into out (appended). */
void sl_bookmark_path(const char *data_dir, const char *connector, sl_buf_t *out);

/* Load the document. *json is NULL (and SL_OK) when there is no bookmark yet; else a
 * NUL-terminated copy the caller frees. A file that is not a JSON object gives
 * SL_ERR_CORRUPT and a sentence naming the file; the file is left untouched. */
sl_err_t sl_bookmark_load(const char *data_dir, const char *connector, char **json,
                          char *err, size_t errlen);

/* Replace the document atomically; creates <data_dir>/bookmarks/ when missing. */
sl_err_t sl_bookmark_store(const char *data_dir, const char *connector, const char *json,
                           size_t len, char *err, size_t errlen);

/* Delete the document (offsets reset). Missing is not an error. */
sl_err_t sl_bookmark_remove(const char *data_dir, const char *connector, char *err,
                            size_t errlen);

#endif
