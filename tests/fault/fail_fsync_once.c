/* LD_PRELOAD shim for the fsync-failure tests: the first fsync, fdatasync or syncfs
 * after the file named by MOLDAU_FAULT_FLAG appears fails with EIO (a transient disk
 * error); the flag is removed by that call, so later calls succeed again, as they
 * often do on a real disk after the kernel dropped the failed pages. MOLDAU_FAULT_FIRED
 * names a file created when the fault fires; it holds the failed call's name.
 *
 * With MOLDAU_FAULT_CALL=syncfs only syncfs fails; an fsync or fdatasync that starts
 * while the flag exists succeeds and appends the synced file's path to the file named
 * by MOLDAU_FAULT_SYNCED (what the broker may rightly acknowledge before the fault). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int only_syncfs(void) {
    const char *call = getenv("MOLDAU_FAULT_CALL");
    return call != NULL && strcmp(call, "syncfs") == 0;
}

static int fault_now(const char *call) {
    const char *flag = getenv("MOLDAU_FAULT_FLAG");
    /* unlink succeeds for exactly one caller: one fault per flag. */
    if (flag == NULL || unlink(flag) != 0) {
        return 0;
    }
    const char *fired = getenv("MOLDAU_FAULT_FIRED");
    if (fired != NULL) {
        int fd = open(fired, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd >= 0) {
            ssize_t ignored = write(fd, call, strlen(call));
            (void)ignored;
            close(fd);
        }
    }
    errno = EIO;
    return 1;
}

/* Notes that `fd` is being synced while the fault is armed (MOLDAU_FAULT_CALL=syncfs). */
static void note_synced(int fd) {
    const char *flag = getenv("MOLDAU_FAULT_FLAG");
    const char *synced = getenv("MOLDAU_FAULT_SYNCED");
    if (flag == NULL || synced == NULL || access(flag, F_OK) != 0) {
        return;
    }
    char link[64];
    char path[PATH_MAX + 1];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, PATH_MAX - 1);
    if (len <= 0) {
        return;
    }
    path[len] = '\n';
    int out = open(synced, O_CREAT | O_WRONLY | O_APPEND, 0644);
    if (out >= 0) {
        ssize_t ignored = write(out, path, (size_t)len + 1);
        (void)ignored;
        close(out);
    }
}

int fdatasync(int fd) {
    if (only_syncfs()) {
        note_synced(fd);
    } else if (fault_now("fdatasync")) {
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int fsync(int fd) {
    if (only_syncfs()) {
        note_synced(fd);
    } else if (fault_now("fsync")) {
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int syncfs(int fd) {
    if (fault_now("syncfs")) {
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    return real(fd);
}
