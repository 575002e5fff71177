/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The results port: the guest's second UART (/dev/ttyS1), which carries
 * the run's results to the host and nothing else.
 */
#ifndef WCTB_PORT_H
#define WCTB_PORT_H

#define WCTB_PORT_DEVICE	"/dev/ttyS1"

/* init: open the results port (raw); 0 or -errno (then lines go to the console only). */
int wctb_port_open(void);

/* init: one line (ending in "\n") to the console and the results port. */
void wctb_port_emit(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* init: text to the results port only. */
void wctb_port_write(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * Any program: ask the host to act on the VM, "wctb-host: <request>",
 * which the host runs over QMP.  Requests: "device_del wctd",
 * "device_add wctd".  0 or -errno.  The host does not answer; the guest
 * watches for the effect (a device request, the device leaving or coming
 * back).
 */
int wctb_host_request(const char *request);

#endif /* WCTB_PORT_H */
