/*
 * health: `mnmfa health`, the container health check. Loads the same
 * configuration as serve and asks this machine's own /healthz on both ports.
 */
#ifndef MNMFA_HEALTH_H
#define MNMFA_HEALTH_H

/* argv holds the flags after "health". Returns the exit code: 0 when both
 * ports answer 200 {"status":"ok"}, 1 otherwise (a bad configuration too:
 * container engines reserve 2). */
int health_cmd(int argc, char **argv);

#endif
