/*
 * airdig-clickhouse: runs ClickHouse out of the chDB library (libchdb.so of the npm chdb package).
 *
 *   airdig-clickhouse LIBCHDB [clickhouse-local arguments...]
 *
 * libchdb.so has no server entry point, but chdb_query_cmdline takes clickhouse-local's command
 * line, and a query that starts ClickHouse's HTTP and native listeners and then keeps running keeps
 * them serving. It must run on a thread's own stack (ClickHouse checks its stack bounds), which is
 * why this is a tiny program and not an FFI call from Node. It dies with its parent, so a killed
 * AirDig never leaves an engine holding the data directory.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <unistd.h>

typedef void *(*cmdline_fn)(int, char **);
typedef const char *(*error_fn)(void *);
typedef char *(*buffer_fn)(void *);
typedef size_t (*length_fn)(void *);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s LIBCHDB [clickhouse-local arguments...]\n", argv[0]);
    return 2;
  }
#ifdef __linux__
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 1; /* the parent died before prctl took effect */
#endif

  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    fprintf(stderr, "airdig-clickhouse: cannot load %s: %s\n", argv[1], dlerror());
    return 1;
  }
  cmdline_fn query = (cmdline_fn)dlsym(lib, "chdb_query_cmdline");
  error_fn error = (error_fn)dlsym(lib, "chdb_result_error");
  buffer_fn buffer = (buffer_fn)dlsym(lib, "chdb_result_buffer");
  length_fn length = (length_fn)dlsym(lib, "chdb_result_length");
  if (!query || !error || !buffer || !length) {
    fprintf(stderr, "airdig-clickhouse: %s lacks chdb_query_cmdline or chdb_result_*: %s\n", argv[1], dlerror());
    return 1;
  }
  argv[1] = "clickhouse";
  void *result = query(argc - 1, argv + 1);
  if (!result) {
    fprintf(stderr, "airdig-clickhouse: the engine returned no result\n");
    return 1;
  }
  if (length(result) > 0) fwrite(buffer(result), 1, length(result), stdout);
  const char *message = error(result);
  if (message && *message) {
    fprintf(stderr, "%s\n", message);
    return 1;
  }
  return 0;
}
