/* sluice: file bookmark store; a crash at any instant leaves the old or the new document.
 * A corrupt document stops the worker with a clear error and is never overwritten. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "core/bookmark.h"

static void dir_path(const char *data_dir, sl_buf_t *out)
{
    sl_buf_puts(out, data_dir);
    sl_buf_puts(out, "/bookmarks");
}

void sl_bookmark_path(const char *data_dir, const char *connector, sl_buf_t *out)
{
    dir_path(data_dir, out);
    sl_buf_printf(out, "/%s.json", connector);
}

static int mkdir_p(const char *path)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, path);
    for (size_t i = 1; i <= b.len; i++) {
        if (b.data[i] == '/' || b.data[i] == 0) {
            char c = b.data[i];
            b.data[i] = 0;
            if (mkdir(b.data, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                sl_buf_free(&b);
                errno = e;
                return -1;
            }
            b.data[i] = c;
        }
    }
    sl_buf_free(&b);
    return 0;
}

sl_err_t sl_bookmark_load(const char *data_dir, const char *connector, char **json,
                          char *err, size_t errlen)
{
    *json = NULL;
    sl_buf_t path = SL_BUF_INIT, data = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    sl_bookmark_path(data_dir, connector, &path);
    FILE *f = fopen(path.data, "rb");
    if (!f) {
        if (errno != ENOENT)
            rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot read bookmark %s: %s", path.data,
                            strerror(errno));
        goto out;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sl_buf_append(&data, chunk, n);
    if (ferror(f)) {
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot read bookmark %s: %s", path.data,
                        strerror(errno));
        fclose(f);
        goto out;
    }
    fclose(f);
    json_error_t jerr;
    json_t *root = json_loadb(data.data ? data.data : "", data.len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "bookmark %s is corrupt (%s at line %d); it was left untouched: "
                        "repair it, or set a position with 'sluice offsets set', or remove "
                        "it with 'sluice offsets reset' to start over",
                        path.data, root ? "not a JSON object" : jerr.text, jerr.line);
        json_decref(root);
        goto out;
    }
    json_decref(root);
    *json = sl_buf_steal(&data);
out:
    sl_buf_free(&path);
    sl_buf_free(&data);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

sl_err_t sl_bookmark_store(const char *data_dir, const char *connector, const char *json,
                           size_t len, char *err, size_t errlen)
{
    sl_buf_t dir = SL_BUF_INIT, path = SL_BUF_INIT, tmp = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    int fd = -1;
    dir_path(data_dir, &dir);
    sl_bookmark_path(data_dir, connector, &path);
    sl_buf_printf(&tmp, "%s/.%s.json.tmp", dir.data, connector);
    if (mkdir_p(dir.data) != 0) {
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot create %s: %s", dir.data,
                        strerror(errno));
        goto out;
    }
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto ioerr;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, json + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto ioerr;
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || fsync(fd) != 0)
        goto ioerr;
    if (close(fd) != 0) {
        fd = -1;
        goto ioerr;
    }
    fd = -1;
    if (rename(tmp.data, path.data) != 0 || fsync_dir(dir.data) != 0)
        goto ioerr;
    goto out;
ioerr:
    rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot store bookmark %s: %s", path.data,
                    strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp.data);
out:
    sl_buf_free(&dir);
    sl_buf_free(&path);
    sl_buf_free(&tmp);
    return rc;
}

sl_err_t sl_bookmark_remove(const char *data_dir, const char *connector, char *err,
                            size_t errlen)
{
    sl_buf_t path = SL_BUF_INIT, dir = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    sl_bookmark_path(data_dir, connector, &path);
    dir_path(data_dir, &dir);
    if (unlink(path.data) != 0 && errno != ENOENT)
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot remove bookmark %s: %s", path.data,
                        strerror(errno));
    else
        fsync_dir(dir.data);
    sl_buf_free(&path);
    sl_buf_free(&dir);
    return rc;
}
