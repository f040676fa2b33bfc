/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/persist.c - atomic write and read-back of the last good cluster state. */
#include "k8s/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s/cache.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/objects.h"

int k8s_persist_path(const char *state_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", state_dir, K8S_PERSIST_FILE);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int k8s_persist_save(const struct k8s_cache *cache, const char *state_dir)
{
	char path[4096], tmp[4096 + 16];
	FILE *f = NULL;
	int fd = -1, ret;

	ret = k8s_persist_path(state_dir, path, sizeof(path));
	if (ret < 0)
		return ret;
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		goto fail;
	}
	ret = k8s_cache_write_list(cache, f);
	if (ret < 0)
		goto fail;
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		ret = -errno;
		goto fail;
	}
	if (fclose(f) != 0) {
		f = NULL;
		ret = -errno;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto fail;
	}
	/* The rename is durable only once the directory entry is. */
	return fsync_dir(state_dir);
fail:
	if (f)
		fclose(f);
	unlink(tmp);
	return ret;
}

int k8s_persist_load(const char *state_dir, struct pol_cluster **out, int64_t *saved_unix,
		     struct k8s_diag *diag)
{
	char path[4096];
	const char *paths[1] = { path };
	struct pol_cluster *c;
	struct stat st;
	int ret;

	ret = k8s_persist_path(state_dir, path, sizeof(path));
	if (ret < 0)
		return ret;
	if (stat(path, &st) < 0)
		return -errno;
	c = pol_cluster_new();
	if (!c)
		return -ENOMEM;
	if (k8s_files_load(c, paths, 1, diag) != 0) {
		pol_cluster_free(c);
		return -EINVAL;
	}
	*out = c;
	*saved_unix = st.st_mtime;
	return 0;
}
