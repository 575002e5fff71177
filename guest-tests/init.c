// SPDX-License-Identifier: GPL-2.0
/*
 * PID 1 of the wc-testbed guest.
 *
 * Mounts the pseudo filesystems, binds wc-testdev to vfio-pci, runs every
 * program in /tests as one TAP test each and powers the VM off.  Each
 * program runs its cases on every VFIO access path as fixture variants
 * (legacy_type1, legacy_noiommu, cdev_iommufd: lib/vfio.h), which SKIP
 * where the boot lacks the path.  The TAP stream goes to the console and to a dedicated results port (the second
 * UART, /dev/ttyS1), which carries nothing else: the host decides the
 * verdict from that port only, ending with one "wctb-result:" line
 * (lib/port.h: the protocol).
 *
 * Kernel command line knobs:
 *   wctb.shell=1        prepare the device, then run an interactive shell
 *   wctb.filter=GLOB    run only tests whose name matches GLOB
 *   wctb.timeout=SECS   per-program budget at the reference pace (default
 *                       120): a program still running after SECS times the
 *                       measured pace is killed and fails
 *   wctb.pace=FACTOR    skip the calibration, use this pace (>= 1)
 *   wctb.depth=DEPTH    "quick" (default) or "full": the round counts of
 *                       the heavy cases (growth, races, fuzzing)
 *   wctb.kernel=stock   the kernel is stock (run-vm.sh --series none,
 *                       --kernel, --linux-src): the tests tolerate the
 *                       known warnings of KNOWN_WARNINGS, each reported
 *                       and counted (tolerated=N in "wctb-result:")
 *   wctb.vfio-selftests=1  also run the upstream VFIO selftests of
 *                       VFIO_SELFTESTS_DIR (the intel-iommu boot; their
 *                       library has no noiommu mode), as
 *                       "selftests/vfio/NAME", with $VFIO_SELFTESTS_BDF,
 *                       less the cases KNOWN_DIFFERENCES lists for the
 *                       running kernel (each reported)
 *   wctb.vfio-paths=P   the VFIO access paths the tests use: "legacy",
 *                       "cdev" or "both" (default).  The library reads
 *                       it (wctb_vfio_path_missing()), so that the
 *                       variants of the other paths SKIP with that reason,
 *                       here and in the --shell alike; the harness's own
 *                       -v/-V filters match whole variant names, which
 *                       also name a BAR in some tests
 *   wctb.known-differences=0  run those cases too (a negative control:
 *                       the entries must still be needed)
 *   wctb.hold=1         after the result, wait for the host to end the VM
 *                       (run-vm.sh reads the device's counters over QMP
 *                       first) instead of powering off
 *   wctb.inject=FAULT   harness self-test: "panic" makes PID 1 exit (the
 *                       kernel panics), "hang" makes it wait forever,
 *                       "lie" and "lost-write" are passed to the audit
 *                       (wctb-audit --inject FAULT, see audit.c)
 *
 * After the tests, init runs the audit (AUDIT, audit.c): it writes a
 * known ledger to BAR2 and reports it with every counter ("wctb-ledger:",
 * "wctb-counters:"); the host compares both with the device's own
 * counters.  The audit and the --shell helpers live in /bin, the tests
 * in /tests.
 *
 * Time limits follow the machine.  First a fixed calibration workload
 * (system calls, page faults, a checksum) is timed against what it takes
 * on the reference machine: the ratio, at least 1, is the pace, reported
 * as "wctb-pace: pace=P idle=S" and exported to every program as
 * $WCTB_PACE (their harness limits and waits scale with it).  Before each
 * program or step, "wctb-start: NAME budget=S" says how long it may run
 * (its reference budget times the pace); "wctb-end: NAME seconds=T"
 * follows with the time it took.  The host's watchdog
 * (host/vm.py) allows each started step its budget plus
 * the idle allowance S, and anything else the idle allowance from the
 * last line, so a slow machine gets a slow pass and a hang ends the run
 * soon after the budget of the step that hung.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "wctb.h"

#define TESTS_DIR	"/tests"
#define VFIO_SELFTESTS_DIR	"/vfio-selftests"
#define VFIO_SELFTESTS_PREFIX	"selftests/vfio/"
#define KNOWN_WARNINGS	"/etc/wctb/known-stock-warnings.txt"
#define KNOWN_DIFFERENCES	"/etc/wctb/known-selftest-differences.txt"
#define MAX_TESTS	128
/* /tests programs that are not tests: the audit, the --shell helpers. */
#define AUDIT		"/bin/wctb-audit"
#define KSFT_SKIP_CODE	4

struct options {
	int shell;
	int hold;
	int stock;	/* a stock kernel: known warnings are tolerated */
	int vfio_selftests;	/* run VFIO_SELFTESTS_DIR too */
	int known_differences;	/* apply KNOWN_DIFFERENCES (default 1) */
	char inject[16];
	char filter[128];
	char depth[16];
	int timeout;	/* per-program budget at the reference pace */
	double pace;	/* from wctb.pace=, or 0: calibrate */
};

/* Budgets at the reference pace, in seconds. */
#define DEFAULT_BUDGET	120	/* one test program */
#define IDLE_BUDGET	10	/* init's own steps between programs */
#define AUDIT_BUDGET	120	/* the audit and a kmemleak scan */

static void mount_one(const char *src, const char *dst, const char *type)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, 0, NULL) && errno != EBUSY)
		wctb_port_emit("# mount %s on %s failed: %s\n", type, dst, strerror(errno));
}

static void mount_pseudo_filesystems(void)
{
	mount_one("proc", "/proc", "proc");
	mount_one("sysfs", "/sys", "sysfs");
	mount_one("devtmpfs", "/dev", "devtmpfs");
	mount_one("debugfs", "/sys/kernel/debug", "debugfs");
	mount_one("tmpfs", "/tmp", "tmpfs");
}

static void open_console_and_results(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	wctb_port_open();	/* without it, the console only */
}

static void parse_cmdline(struct options *o)
{
	char buf[4096], *tok, *save;
	FILE *f = fopen("/proc/cmdline", "r");

	o->timeout = DEFAULT_BUDGET;
	o->known_differences = 1;
	snprintf(o->depth, sizeof(o->depth), "quick");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	for (tok = strtok_r(buf, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		if (!strcmp(tok, "wctb.shell=1"))
			o->shell = 1;
		else if (!strcmp(tok, "wctb.hold=1"))
			o->hold = 1;
		else if (!strncmp(tok, "wctb.kernel=", 12))
			o->stock = !strcmp(tok + 12, "stock");
		else if (!strncmp(tok, "wctb.vfio-selftests=", 20))
			o->vfio_selftests = !strcmp(tok + 20, "1");
		else if (!strncmp(tok, "wctb.known-differences=", 23))
			o->known_differences = strcmp(tok + 23, "0") != 0;
		else if (!strncmp(tok, "wctb.filter=", 12))
			snprintf(o->filter, sizeof(o->filter), "%s", tok + 12);
		else if (!strncmp(tok, "wctb.inject=", 12))
			snprintf(o->inject, sizeof(o->inject), "%s", tok + 12);
		else if (!strncmp(tok, "wctb.timeout=", 13))
			o->timeout = atoi(tok + 13);
		else if (!strncmp(tok, "wctb.pace=", 10))
			o->pace = strtod(tok + 10, NULL);
		else if (!strncmp(tok, "wctb.depth=", 11))
			snprintf(o->depth, sizeof(o->depth), "%s", tok + 11);
	}
	if (o->timeout <= 0)
		o->timeout = DEFAULT_BUDGET;
	if (strcmp(o->depth, "quick") && strcmp(o->depth, "full")) {
		wctb_port_emit("# unknown wctb.depth=%s, using quick\n", o->depth);
		snprintf(o->depth, sizeof(o->depth), "quick");
	}
}

static double now_s(void)
{
	return wctb_now_ms() / 1e3;
}

/*
 * The calibration workload: what the tests spend their time on, in small
 * (system calls, page faults and unmaps of anonymous memory, user code).
 * Debug kernels slow the kernel half down, a slow host both halves.
 */
#define CALIBRATION_ROUNDS	400
#define CALIBRATION_PAGES	8
/*
 * Milliseconds one run takes on the reference machine (where the README's
 * figures were measured: one VM alone, normal kernel: 83 ms); a faster
 * machine still gets pace 1.
 */
#define CALIBRATION_REF_MS	80.0

static volatile uint32_t calibration_sink;	/* keeps the checksum */

static double calibration_ms(void)
{
	double t0 = now_s();
	uint32_t sum = 0;
	int i, j;

	for (i = 0; i < CALIBRATION_ROUNDS; i++) {
		uint8_t *p = mmap(NULL, CALIBRATION_PAGES * 4096,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		for (j = 0; j < CALIBRATION_PAGES * 4096; j += 64)
			p[j] = (uint8_t)(i + j);
		for (j = 0; j < CALIBRATION_PAGES * 4096; j += 64)
			sum = sum * 31 + p[j];
		munmap(p, CALIBRATION_PAGES * 4096);
		sum += getppid();
	}
	calibration_sink = sum;
	return (now_s() - t0) * 1000;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Measure (or take from wctb.pace=) the pace; report and export it.  Up to
 * five runs, about 0.4 s in all at the reference pace (several periods of
 * --slow-down's duty cycle), fewer once a second has passed (a debug
 * kernel takes seconds for one); the slowest counts: a budget too large
 * only delays a hang's report, one too small fails a slow pass.
 */
#define CALIBRATION_RUNS	5
#define CALIBRATION_MAX_MS	1000.0

static void set_pace(const struct options *o)
{
	double ms[CALIBRATION_RUNS] = { 0 }, total = 0, pace = o->pace;
	char buf[32];
	int n = 0;

	if (pace <= 0) {
		while (n < CALIBRATION_RUNS && total < CALIBRATION_MAX_MS) {
			ms[n] = calibration_ms();
			total += ms[n++];
		}
		qsort(ms, n, sizeof(ms[0]), cmp_double);
		pace = ms[n - 1] / CALIBRATION_REF_MS;
	}
	if (pace < 1)
		pace = 1;
	snprintf(buf, sizeof(buf), "%.2f", pace);
	setenv("WCTB_PACE", buf, 1);
	setenv("WCTB_DEPTH", o->depth, 1);
	wctb_port_emit(WCTB_PORT_PACE ": pace=%.2f idle=%d calibration-ms=%.1f runs=%d depth=%s\n",
	     pace, wctb_paced_seconds(IDLE_BUDGET), n ? ms[n - 1] : 0, n,
	     o->depth);
}

static int prepare_device(void)
{
	struct wctb_vfio v;
	char bdf[32];
	int ret;

	if (wctb_find_device(bdf, sizeof(bdf))) {
		wctb_port_emit("# wc-testdev (%04x:%04x) not found on the PCI bus\n",
		     WC_TESTDEV_VENDOR_ID, WC_TESTDEV_DEVICE_ID);
		return -1;
	}
	ret = wctb_bind_vfio_pci(bdf);
	if (ret) {
		wctb_port_emit("# binding %s to vfio-pci failed: %s\n", bdf,
			       strerror(-ret));
		return -1;
	}
	/*
	 * One open and close through VFIO, as a VMM's probe does: until its
	 * first open, a device vfio-pci bound decodes no memory, so what
	 * reaches it only through sysfs (sysfs-memtype, the audit after an
	 * enumerate-only run) would not arrive.
	 */
	ret = wctb_vfio_open(&v, bdf, NULL);
	if (ret) {
		wctb_port_emit("# opening %s through VFIO failed: %s\n", bdf,
			       strerror(-ret));
		return -1;
	}
	wctb_vfio_close(&v);
	setenv("WCTB_BDF", bdf, 1);
	setenv("VFIO_SELFTESTS_BDF", bdf, 1);	/* the upstream selftests */
	wctb_port_emit("# wc-testdev at %s bound to vfio-pci\n", bdf);
	return 0;
}

/*
 * On a stock kernel the tests tolerate the known warnings of
 * KNOWN_WARNINGS (the kernel-log rule of lib/kmsg.h); on any other kernel nothing,
 * whatever the environment says.
 */
static void set_known_warnings(const struct options *o)
{
	unsetenv("WCTB_KNOWN_WARNINGS");
	if (!o->stock)
		return;
	if (access(KNOWN_WARNINGS, R_OK)) {
		wctb_port_emit("# stock kernel, but %s is missing: no warning is tolerated\n",
		     KNOWN_WARNINGS);
		return;
	}
	setenv("WCTB_KNOWN_WARNINGS", KNOWN_WARNINGS, 1);
	wctb_port_emit("# stock kernel: the known warnings of %s are tolerated, "
	     "each one reported\n", KNOWN_WARNINGS);
}

/* One run of a program: the program, and the VFIO path it uses. */
struct test {
	char exe[256];		/* its file */
	char name[160];		/* its TAP name */
	char args[160];		/* harness options: known kernel differences */
	char notes[512];	/* what they leave out, and why */
};

/*
 * How many VFIO access paths this boot offers (at least 1): every
 * program runs each of its cases once per path, so its budget is the
 * per-program budget times that.  Says which paths and why not the others.
 */
static int count_vfio_paths(const char *bdf)
{
	const char *missing;
	unsigned int i;
	int n = 0;

	for (i = 0; bdf && i < WCTB_VFIO_NUM_PATHS; i++) {
		missing = wctb_vfio_path_missing(bdf, wctb_vfio_paths[i]);
		if (missing)
			wctb_port_emit("# VFIO path %s: %s\n", wctb_vfio_paths[i],
				       missing);
		else
			n++;
	}
	return n ? n : 1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether kernel release @release is @kernel ("6.12": 6.12.x, 6.12-rc1). */
static int release_is(const char *release, const char *kernel)
{
	size_t n = strlen(kernel);

	return !strncmp(release, kernel, n) &&
	       (release[n] == '.' || release[n] == '-' || !release[n]);
}

struct known_diff {
	struct test *t;
	const char *prog;
	const char *release;
};

/* One entry of KNOWN_DIFFERENCES: applied when it names @prog and this kernel. */
static int known_difference(void *ctx, int lineno, const char *title,
			    const char *entry)
{
	struct known_diff *d = ctx;
	struct test *t = d->t;
	char kernel[32], name[64], opt[4], arg[64];

	if (sscanf(entry, "%31s %63s %3s %63s", kernel, name, opt, arg) != 4 ||
	    strcmp(name, d->prog) || !release_is(d->release, kernel))
		return 0;
	if (strlen(t->args) + strlen(opt) + strlen(arg) + 3 > sizeof(t->args)) {
		wctb_port_emit("# %s:%d: too many known differences for %s; %s %s not "
		     "applied\n", KNOWN_DIFFERENCES, lineno, d->prog, opt, arg);
		return 0;
	}
	snprintf(t->args + strlen(t->args), sizeof(t->args) - strlen(t->args),
		 "%s%s %s", t->args[0] ? " " : "", opt, arg);
	snprintf(t->notes + strlen(t->notes), sizeof(t->notes) - strlen(t->notes),
		 WCTB_PORT_DIAGNOSTIC WCTB_PORT_KNOWN_DIFFERENCE
		 "%s: %s %s %s left out: %s\n",
		 kernel, d->prog, opt, arg, title);
	return 0;
}

/*
 * The kselftest harness exclusions (-T TEST, -V VARIANT, -F FIXTURE) that
 * KNOWN_DIFFERENCES lists for upstream selftest @prog on the running
 * kernel, into t->args, and one note per entry (its comment's first line)
 * into t->notes.  run-vm.sh checked the file's format.
 */
static void known_differences(struct test *t, const char *prog)
{
	struct utsname u;
	struct known_diff d = { .t = t, .prog = prog, .release = u.release };

	t->args[0] = t->notes[0] = '\0';
	if (!uname(&u))
		wctb_list_entries(KNOWN_DIFFERENCES, known_difference, &d);
}

/* Program @prog of @dir, TAP name @prefix@prog. */
static int add_test(const struct options *o, struct test *t, const char *dir,
		    const char *prefix, const char *prog)
{
	snprintf(t->name, sizeof(t->name), "%s%s", prefix, prog);
	if (o->filter[0] && fnmatch(o->filter, t->name, 0) &&
	    fnmatch(o->filter, prog, 0))
		return 0;
	snprintf(t->exe, sizeof(t->exe), "%s/%s", dir, prog);
	t->args[0] = t->notes[0] = '\0';
	if (!strcmp(prefix, VFIO_SELFTESTS_PREFIX) && o->known_differences)
		known_differences(t, prog);
	return 1;
}

/* The names of the programs in @dir, sorted; returns how many. */
static int list_dir(const char *dir, char **names, int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.' && e->d_type == DT_REG)
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	return n;
}

/*
 * The upstream VFIO selftests, after our own tests: in the intel-iommu
 * boot only (wctb.vfio-selftests=1), each run once, on the device of
 * $VFIO_SELFTESTS_BDF.
 */
static int list_vfio_selftests(const struct options *o, struct test *tests,
			       int max)
{
	char *names[MAX_TESTS];
	int n = list_dir(VFIO_SELFTESTS_DIR, names, MAX_TESTS), i, count = 0;

	if (n && !o->vfio_selftests)
		wctb_port_emit("# %d upstream VFIO selftests not run in this boot: their "
		     "library has no noiommu mode\n", n);
	for (i = 0; i < n && o->vfio_selftests && count < max; i++)
		count += add_test(o, &tests[count], VFIO_SELFTESTS_DIR,
				  VFIO_SELFTESTS_PREFIX, names[i]);
	return count;
}

static int list_tests(const struct options *o, struct test *tests)
{
	char *names[MAX_TESTS];
	int n = list_dir(TESTS_DIR, names, MAX_TESTS), i, count = 0;

	for (i = 0; i < n && count < MAX_TESTS - 2; i++)
		count += add_test(o, &tests[count], TESTS_DIR, "", names[i]);
	return count + list_vfio_selftests(o, tests + count,
					   MAX_TESTS - 1 - count);
}

/*
 * The program's output as TAP diagnostics, while it runs: the complete
 * lines written to @log since the last call (at @end, the rest too), so
 * that each line reaches the host when it is written and the host's
 * arrival times give each case its duration.
 */
static void copy_log_lines(FILE *log, int end)
{
	char line[1024];
	long at;

	if (!log)
		return;
	for (;;) {
		at = ftell(log);
		if (!fgets(line, sizeof(line), log))
			break;
		if (!end && !strchr(line, '\n') &&
		    strlen(line) < sizeof(line) - 1) {
			fseek(log, at, SEEK_SET);	/* the rest comes later */
			break;
		}
		wctb_port_emit(WCTB_PORT_DIAGNOSTIC "%s%s", line,
			       strchr(line, '\n') ? "" : "\n");
	}
	clearerr(log);
}

/*
 * Wait for @pid at most @timeout seconds, copying its output from @log
 * as it comes; when the time is up, kill its whole process group (a
 * test's own children too).  Other children that end meanwhile (orphans
 * re-parented to PID 1) are reaped on the way.
 */
static int wait_with_timeout(pid_t pid, int timeout, int *timed_out,
			     FILE *log)
{
	const int64_t slice_ns = 100 * 1000000LL;
	struct timespec now, slice;
	int64_t end, left;
	sigset_t set;
	int status;
	pid_t got;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	*timed_out = 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	end = now.tv_sec * 1000000000LL + now.tv_nsec + timeout * 1000000000LL;
	for (;;) {
		while ((got = waitpid(-1, &status, WNOHANG)) > 0)
			if (got == pid)
				return status;
		copy_log_lines(log, 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = end - (now.tv_sec * 1000000000LL + now.tv_nsec);
		if (left <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			*timed_out = 1;
			return status;
		}
		if (left > slice_ns)
			left = slice_ns;
		slice.tv_sec = left / 1000000000LL;
		slice.tv_nsec = left % 1000000000LL;
		sigtimedwait(&set, NULL, &slice);	/* SIGCHLD, or the slice */
	}
}

/* A test's leftover processes (its group) go before the next test. */
static void kill_leftovers(pid_t pgid)
{
	kill(-pgid, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/*
 * Why a program skipped, from its log: the text after the last "# SKIP"
 * (a kselftest result or plan), else its last line of output.
 */
static void skip_reason(const char *log, char *why, size_t len)
{
	char line[1024], last[1024] = "", *s;
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		s = strstr(line, "# SKIP");
		if (s) {
			s += strlen("# SKIP");
			snprintf(why, len, "%s", s + strspn(s, " \t"));
		}
		if (line[0])
			snprintf(last, sizeof(last), "%s", line);
	}
	fclose(f);
	if (!why[0])
		snprintf(why, len, "%s", last);
}

enum verdict { PASS, FAIL, SKIP };

/* The host's watchdog allows a started step @budget seconds (see top). */
static double step_start(const char *name, int budget)
{
	wctb_port_emit(WCTB_PORT_START ": %s budget=%d\n", name, budget);
	return now_s();
}

static void step_end(const char *name, double t0)
{
	wctb_port_emit(WCTB_PORT_END ": %s seconds=%.2f\n", name, now_s() - t0);
}

/* exec @path with the space-separated options @args. */
static void exec_with_args(const char *path, const char *args)
{
	char buf[sizeof(((struct test *)0)->args)], *argv[32], *tok, *save;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", args);
	argv[n++] = (char *)path;
	for (tok = strtok_r(buf, " ", &save); tok && n < 31;
	     tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	execv(path, argv);
}

static enum verdict run_test(const struct test *t, int timeout, char *why,
			    size_t len)
{
	const char *path = t->exe;
	char log[512], *c;
	int status, timed_out, fd;
	FILE *out;
	pid_t pid;

	snprintf(log, sizeof(log), "/tmp/%s.log", t->name);
	for (c = log + strlen("/tmp/"); (c = strchr(c, '/')); )
		*c = '-';	/* selftests/vfio/NAME */
	if (t->notes[0])
		wctb_port_emit("%s", t->notes);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		snprintf(why, len, "creating %s: %s", log, strerror(errno));
		return FAIL;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		exec_with_args(path, t->args);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(fd);
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return FAIL;
	}
	setpgid(pid, pid);	/* no race with the child's own setpgid() */
	out = fopen(log, "r");
	status = wait_with_timeout(pid, timeout, &timed_out, out);
	kill_leftovers(pid);
	copy_log_lines(out, 1);
	if (out)
		fclose(out);
	if (timed_out) {
		snprintf(why, len, "TIMEOUT after %d s", timeout);
		return FAIL;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return FAIL;
	}
	if (WEXITSTATUS(status) == KSFT_SKIP_CODE) {
		skip_reason(log, why, len);
		return SKIP;
	}
	if (WEXITSTATUS(status)) {
		snprintf(why, len, "exit code %d", WEXITSTATUS(status));
		return FAIL;
	}
	return PASS;
}

static int kmsg = -1;	/* the kernel log, read up to where we last looked */
static int tolerated_warnings;	/* known stock-kernel warnings in this boot */

/*
 * The kernel log records since the last call that fail a test (kmsg.h),
 * emitted as "# kernel: ..." lines, and the known stock-kernel warnings
 * tolerated, as "# kernel: " WCTB_PORT_TOLERATED "...", each counted once;
 * the first failing record goes to @why.
 */
static int scan_kernel_log(int flags, char *why, size_t len)
{
	char log[4096], *line, *save, *text = NULL;
	size_t size = 0;
	FILE *tolerated;
	int found;

	if (kmsg < 0)
		return 0;
	tolerated = open_memstream(&text, &size);
	found = wctb_kmsg_read(kmsg, flags, log, sizeof(log), tolerated,
			       &tolerated_warnings);
	if (tolerated)
		fclose(tolerated);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		wctb_port_emit("# kernel: %s\n", line);
	free(text);
	if (found < 0) {
		snprintf(why, len, "reading the kernel log: %s", strerror(-found));
		return 1;
	}
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		wctb_port_emit("# kernel: %s\n", line);
		if (line == log)
			snprintf(why, len, "kernel reported: %s", line);
	}
	return found;
}

/*
 * Debug kernels: ask kmemleak for a scan now (it reports "new suspected
 * memory leaks" in the kernel log) and copy its report into the log.
 */
static void kmemleak_scan(void)
{
	char line[256];
	FILE *f;

	if (wctb_write_attr("/sys/kernel/debug/kmemleak", "scan"))
		return;		/* no kmemleak in this kernel */
	f = fopen("/sys/kernel/debug/kmemleak", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		wctb_port_emit("# kmemleak: %s%s", line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
}

/* One TAP line; a kernel finding during the test fails it. */
static enum verdict report_test(int i, const char *name, enum verdict v,
				char *why, size_t len)
{
	char finding[160];

	if (scan_kernel_log(0, finding, sizeof(finding))) {
		if (v == FAIL)
			strncat(why, "; ", len - strlen(why) - 1);
		else
			why[0] = '\0';
		strncat(why, finding, len - strlen(why) - 1);
		v = FAIL;
	}
	if (v == PASS)
		wctb_port_emit("ok %d %s\n", i, name);
	else if (v == SKIP)
		wctb_port_emit("ok %d %s # SKIP%s%s\n", i, name, why[0] ? " " : "", why);
	else
		wctb_port_emit("not ok %d %s # %s\n", i, name, why);
	return v;
}

/*
 * The device is awake before each program and before the audit, whatever
 * the one before left (a re-added device, a program killed before its
 * teardown restored power/control): otherwise the failure of one program
 * would pass itself on to the next as a dead device.
 */
static int keep_awake(char *why, size_t len)
{
	const char *bdf = getenv("WCTB_BDF");
	int ret = bdf ? wctb_keep_awake(bdf) : 0;

	if (!ret)
		return 0;
	snprintf(why, len, "keeping %s out of runtime suspend (power/control "
		 "\"on\", runtime_status \"active\"): %s", bdf, strerror(-ret));
	return -1;
}

/*
 * The audit, as a program but not a test: what goes wrong shows on the
 * host, whose ledger and counter checks fail without its records, and
 * fails the boot (a WC half that did not combine: audit.c).
 */
static enum verdict run_audit(const struct options *o)
{
	struct test t = { .exe = AUDIT, .name = "audit" };
	char why[256] = "";
	enum verdict v;

	if (!strcmp(o->inject, "lie") || !strcmp(o->inject, "lost-write"))
		snprintf(t.args, sizeof(t.args), "--inject %s", o->inject);
	v = run_test(&t, wctb_paced_seconds(AUDIT_BUDGET), why, sizeof(why));
	if (v != PASS)
		wctb_port_emit("# audit: %s\n", why);
	return v;
}

/*
 * Every test, then "kernel-log": the kernel log of the boot and of what
 * ran outside the tests (the audit, a kmemleak scan) holds no finding.
 */
static int run_all(const struct options *o)
{
	static struct test tests[MAX_TESTS];
	int n, i, counts[3] = { 0 };
	enum verdict v;
	char why[256], boot[256] = "";
	int boot_findings, paths;
	double t0;

	set_known_warnings(o);	/* the boot's records count too */
	kmsg = wctb_kmsg_open(1);
	boot_findings = scan_kernel_log(WCTB_KMSG_BOOT, boot, sizeof(boot));
	paths = count_vfio_paths(getenv("WCTB_BDF"));
	n = list_tests(o, tests);
	wctb_port_emit(WCTB_PORT_TAP_VERSION "\n1..%d\n", n + 1);
	for (i = 0; i < n; i++) {
		int budget = wctb_paced_seconds(o->timeout * paths);

		why[0] = '\0';
		t0 = step_start(tests[i].name, budget);
		if (keep_awake(why, sizeof(why)))
			v = FAIL;
		else
			v = run_test(&tests[i], budget, why, sizeof(why));
		step_end(tests[i].name, t0);
		counts[report_test(i + 1, tests[i].name, v, why, sizeof(why))]++;
	}
	if (n == 0)
		wctb_port_emit("# no test matched '%s'\n", o->filter);
	t0 = step_start("audit", wctb_paced_seconds(AUDIT_BUDGET));
	if (keep_awake(why, sizeof(why)))
		wctb_port_emit("# audit: %s\n", why);	/* the host's ledger check fails */
	if (run_audit(o) != PASS)
		counts[FAIL]++;
	kmemleak_scan();
	step_end("audit", t0);
	snprintf(why, sizeof(why), "%s", boot);
	counts[report_test(n + 1, "kernel-log", boot_findings ? FAIL : PASS,
			   why, sizeof(why))]++;
	if (tolerated_warnings)
		wctb_port_emit("# known stock-kernel warnings tolerated in this boot: %d "
		     "(README: \"Known warnings of stock kernels\")\n",
		     tolerated_warnings);
	wctb_port_emit(WCTB_PORT_RESULT ": %s passed=%d failed=%d skipped=%d tolerated=%d\n",
	     n && !counts[FAIL] ? "PASS" : "FAIL", counts[PASS], counts[FAIL],
	     counts[SKIP], tolerated_warnings);
	return counts[FAIL];
}

/* Faults on request, so that the host side can prove it notices them. */
static void inject_fault(const char *fault)
{
	if (!strcmp(fault, "panic")) {
		wctb_port_emit("# wctb.inject=panic: PID 1 exits now\n");
		exit(1);
	}
	if (!strcmp(fault, "lie") || !strcmp(fault, "lost-write"))
		return;		/* done by the audit */
	if (!strcmp(fault, "hang")) {
		wctb_port_emit("# wctb.inject=hang: PID 1 waits forever\n");
		for (;;)
			pause();
	}
	wctb_port_emit("# unknown wctb.inject=%s ignored\n", fault);
}

static void run_shell(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		ioctl(0, TIOCSCTTY, 1);
		setenv("PATH", "/bin:/tests", 1);
		execl("/bin/busybox", "sh", "-c",
		      "/bin/busybox --install -s /bin; exec /bin/sh -l", (char *)NULL);
		perror("exec /bin/busybox");
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

int main(void)
{
	struct options o = { 0 };
	sigset_t set;

	/* SIGCHLD stays blocked so that sigtimedwait() can collect it. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	mount_pseudo_filesystems();
	open_console_and_results();
	parse_cmdline(&o);
	set_pace(&o);
	if (o.inject[0])
		inject_fault(o.inject);
	if (prepare_device()) {
		wctb_port_emit("Bail out! wc-testdev could not be prepared\n");
		wctb_port_emit(WCTB_PORT_RESULT ": FAIL passed=0 failed=1 skipped=0\n");
	} else if (o.shell) {
		wctb_port_emit("# wc-testbed shell: tests are in /tests; "
			       "wctb-counters, wctb-store MAPPING and wctb-lspci "
			       "show the device; exit to power off\n");
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		run_shell();
	} else {
		run_all(&o);
	}
	sync();
	if (o.hold && !o.shell)
		for (;;)
			pause();	/* the host reads the device, then quits */
	reboot(RB_POWER_OFF);
	return 0;
}
