/* sluice: whole writes, atomic file replacement, directory fsync, durable mkdir -p (see
 * fsio.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/fsio.h"

int sl_write_all(int fd, const void *p, size_t n)
{
    struct iovec v = {(void *)(uintptr_t)p, n};
    return sl_writev_all(fd, &v, 1, NULL);
}

int sl_writev_all(int fd, struct iovec *v, int n, uint64_t *written)
{
    while (n > 0) {
        /* writev takes at most IOV_MAX (1024 on Linux) pieces at once */
        ssize_t w = writev(fd, v, n < 1024 ? n : 1024);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) { /* not from pipes or files; never spin on it */
            size_t left = 0;
            for (int i = 0; i < n; i++)
                left += v[i].iov_len;
            if (left) {
                errno = EIO;
                return -1;
            }
            return 0;
        }
        if (written)
            *written += (uint64_t)w;
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int sl_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int sl_write_atomic(const char *dir, const char *tmp, const char *final, struct iovec *v,
                    int n)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (sl_writev_all(fd, v, n, NULL) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, final) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return sl_fsync_dir(dir);
}

int sl_mkdir_p(char *path)
{
    size_t n = strlen(path);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char save = path[i];
        path[i] = 0;
        if (mkdir(path, 0755) == 0) {
            /* its entry lives in the parent: "/" and "." for top-level names */
            char *slash = strrchr(path, '/');
            int rc;
            if (slash && slash != path) {
                *slash = 0;
                rc = sl_fsync_dir(path);
                *slash = '/';
            } else {
                rc = sl_fsync_dir(slash ? "/" : ".");
            }
            if (rc < 0) {
                path[i] = save;
                return -1;
            }
        } else if (errno != EEXIST) {
            path[i] = save;
            return -1;
        }
        path[i] = save;
    }
    return 0;
}
