/* LD_PRELOAD shim for the fsync-failure test: the first fsync or fdatasync after the
 * file named by MOLDAU_FAULT_FLAG appears fails with EIO (a transient disk error); the
 * flag is removed by that call, so later calls succeed again, as they often do on a
 * real disk after the kernel dropped the failed pages. MOLDAU_FAULT_FIRED names a file
 * created when the fault fires. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int fault_now(void) {
    const char *flag = getenv("MOLDAU_FAULT_FLAG");
    /* unlink succeeds for exactly one caller: one fault per flag. */
    if (flag == NULL || unlink(flag) != 0) {
        return 0;
    }
    const char *fired = getenv("MOLDAU_FAULT_FIRED");
    if (fired != NULL) {
        int fd = open(fired, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) {
            close(fd);
        }
    }
    errno = EIO;
    return 1;
}

int fdatasync(int fd) {
    if (fault_now()) {
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int fsync(int fd) {
    if (fault_now()) {
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}
