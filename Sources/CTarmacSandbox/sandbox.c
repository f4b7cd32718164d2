#define _GNU_SOURCE
#include "CTarmacSandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct tarmac_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct tarmac_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int tarmac_landlock_abi(void) {
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, 1U /* LANDLOCK_CREATE_RULESET_VERSION */);
    return v < 0 ? 0 : (int)v;
}

int tarmac_landlock_create_ruleset(uint64_t handled_fs, uint64_t scoped, int abi) {
    struct tarmac_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = handled_fs;
    attr.scoped = abi >= 6 ? scoped : 0;
    size_t size = abi >= 6 ? sizeof attr : (abi >= 4 ? 16 : 8);
    return (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
}

int tarmac_landlock_allow(int ruleset_fd, int parent_fd, uint64_t allowed) {
    struct tarmac_path_beneath_attr attr = {.allowed_access = allowed, .parent_fd = parent_fd};
    return (int)syscall(__NR_landlock_add_rule, ruleset_fd, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &attr, 0);
}

int tarmac_landlock_restrict_self(int ruleset_fd) {
    return (int)syscall(__NR_landlock_restrict_self, ruleset_fd, 0);
}

int tarmac_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int tarmac_private_mounts(void) {
    if (unshare(CLONE_NEWNS) != 0) return -1;
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

int tarmac_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data) {
    return mount(source, target, fstype, flags, data);
}

int tarmac_bind(const char *source, const char *target) {
    return mount(source, target, NULL, MS_BIND | MS_REC, NULL);
}

int tarmac_remount_readonly(const char *target) {
    return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

int tarmac_open_path(const char *path, int directory) {
    return open(path, O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
}

int tarmac_become(unsigned int uid, unsigned int gid) {
    if (setgroups(0, NULL) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0) return -1;
    return setresuid(uid, uid, uid);
}
