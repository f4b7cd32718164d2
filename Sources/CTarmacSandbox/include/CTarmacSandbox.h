// The few Linux system calls the local backend's pod sandbox needs that Swift cannot call directly (variadic or
// without a libc wrapper): Landlock, no_new_privs and the mount namespace. Each returns 0 (or an fd) on success and
// -1 with errno set on failure.
#ifndef CTARMAC_SANDBOX_H
#define CTARMAC_SANDBOX_H

#include <stdint.h>

/// The Landlock ABI version the kernel offers (0: none).
int tarmac_landlock_abi(void);
/// A new ruleset handling `handled_fs` file-system rights and `scoped` IPC scopes (ABI 6+); the attribute size is
/// chosen for `abi` so that older kernels accept it.
int tarmac_landlock_create_ruleset(uint64_t handled_fs, uint64_t scoped, int abi);
/// Allows `allowed` beneath the file or directory open as `parent_fd`.
int tarmac_landlock_allow(int ruleset_fd, int parent_fd, uint64_t allowed);
/// Restricts the calling thread (and what it executes) to the ruleset.
int tarmac_landlock_restrict_self(int ruleset_fd);
/// Sets no_new_privs: nothing executed later gains privileges (setuid bits, file capabilities).
int tarmac_no_new_privs(void);
/// A private mount namespace for the calling thread: later mounts are seen by it and what it executes only.
int tarmac_private_mounts(void);
/// mount(2) with the usual flags.
int tarmac_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
/// A bind mount of `source` (may be /proc/self/fd/N) on `target`.
int tarmac_bind(const char *source, const char *target);
/// Makes the bind mount at `target` (and those under it) read-only, without devices or set-uid programs.
int tarmac_remount_readonly(const char *target);

/// open(path, O_PATH | O_CLOEXEC), with O_DIRECTORY when `directory` is set: a handle for rules and bind mounts.
int tarmac_open_path(const char *path, int directory);
/// Drops every group and becomes `uid`/`gid` (real, effective and saved), for good.
int tarmac_become(unsigned int uid, unsigned int gid);

#endif
