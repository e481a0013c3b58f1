/* The pod sandbox ("pause") process, built locally so the node never pulls registry.k8s.io/pause.
 * PID 1 of the pod's shared namespaces: it exits on SIGINT/SIGTERM and reaps orphaned children. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }
static void on_chld(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') { puts("pause (modelroute)"); return 0; }
    if (getpid() != 1) fprintf(stderr, "warning: pause should be the first process\n");
    struct sigaction term = {.sa_handler = on_term}, chld = {.sa_handler = on_chld, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
        sigaction(SIGCHLD, &chld, NULL) < 0) { perror("sigaction"); return 1; }
    for (;;) pause();
}
