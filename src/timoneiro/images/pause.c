/* The pod sandbox's process: it holds the pod's namespaces open, reaps the orphans that land on it (it is
 * pid 1 when the pod shares its pid namespace) and exits on SIGINT or SIGTERM. Built with gcc -static into
 * the sandbox image, since no image can be pulled from the internet. Written for timoneiro. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) {
    (void)signo;
    _exit(0);
}

static void reap(int signo) {
    (void)signo;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static int on(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("timoneiro-pause 1.0");
        return 0;
    }
    if (on(SIGINT, stop) || on(SIGTERM, stop) || on(SIGCHLD, reap)) {
        perror("sigaction");
        return 1;
    }
    for (;;) {
        pause();
    }
}
