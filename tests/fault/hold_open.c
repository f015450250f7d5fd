/* LD_PRELOAD shim for the recovery-availability test: opening a file whose path
 * contains MOLDAU_HOLD_PATH waits for as long as the file named by MOLDAU_HOLD_FLAG
 * exists, after creating the file named by MOLDAU_HOLD_REACHED. So the test holds
 * back the recovery of one partition, in order rather than in time, and lets it go
 * by removing the flag. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static void hold(const char *path) {
    const char *part = getenv("MOLDAU_HOLD_PATH");
    const char *flag = getenv("MOLDAU_HOLD_FLAG");
    if (path == NULL || part == NULL || flag == NULL || strstr(path, part) == NULL) {
        return;
    }
    if (access(flag, F_OK) != 0) {
        return;
    }
    const char *reached = getenv("MOLDAU_HOLD_REACHED");
    if (reached != NULL) {
        open_fn real = (open_fn)dlsym(RTLD_NEXT, "open");
        int fd = real(reached, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) {
            close(fd);
        }
    }
    struct timespec pause = {0, 10 * 1000 * 1000};
    while (access(flag, F_OK) == 0) {
        nanosleep(&pause, NULL);
    }
}

static mode_t mode_of(int flags, va_list args) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    hold(path);
    return ((open_fn)dlsym(RTLD_NEXT, "open"))(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    hold(path);
    return ((open_fn)dlsym(RTLD_NEXT, "open64"))(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    hold(path);
    return ((openat_fn)dlsym(RTLD_NEXT, "openat"))(dir, path, flags, mode);
}

int openat64(int dir, const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    hold(path);
    return ((openat_fn)dlsym(RTLD_NEXT, "openat64"))(dir, path, flags, mode);
}
