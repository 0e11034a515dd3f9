/* xr_spawn TIMEOUT_S CMD [ARGS...]: runs CMD as a child and, once it ended, prints
 *   SPAWN status=S cpu_us=C maxrss_kb=M wall_us=W [timeout=1]
 * on stdout (after whatever the child printed there). The driver uses it instead of measuring
 * its own children because ru_maxrss counts the RSS the process had before exec: a child forked
 * from Python would report Python's RSS. This launcher is small, so the number is the client's.
 * After TIMEOUT_S seconds the child is killed (SIGKILL) and timeout=1 is printed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig) {
    (void)sig;
    timed_out = 1;
    if (child > 0) kill(child, SIGKILL);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: xr_spawn TIMEOUT_S CMD [ARGS...]\n");
        return 2;
    }
    double limit = atof(argv[1]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    child = pid;
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {(time_t)limit, (suseconds_t)((limit - (time_t)limit) * 1e6)}};
    setitimer(ITIMER_REAL, &it, NULL);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) { perror("wait4"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long cpu = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("SPAWN status=%d cpu_us=%lld maxrss_kb=%ld wall_us=%lld%s\n", code, cpu, ru.ru_maxrss, wall, timed_out ? " timeout=1" : "");
    return 0;
}
