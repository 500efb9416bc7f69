/* vsock-tool: the test guest's vsock client and servers (README.md, "vsock").
 * Built static by build.sh; busybox has no vsock applet.
 *
 *   vsock-tool connect CID PORT         stdin -> socket, socket -> stdout; stdin EOF half-closes
 *   vsock-tool listen PORT echo         every connection: bytes back until EOF, then close
 *   vsock-tool listen PORT sink         every connection: read to EOF, then print
 *                                       "VZKIT vsock-sink port=P bytes=N sha256=HEX"
 *   vsock-tool listen PORT source N     every connection: send N pseudo-random bytes, close, print
 *                                       "VZKIT vsock-source port=P bytes=N sha256=HEX"
 *   vsock-tool listen PORT hello        every connection: "hello from the guest\n", then close at once
 *   vsock-tool listen PORT qga          a stand-in for qemu-guest-agent: each command line read is
 *                                       printed as "VZKIT qga port=P command=LINE" and answered
 *                                       {"return": {}} (what guest-set-time answers)
 *   vsock-tool send CID PORT N          connect, send N pseudo-random bytes, close, print
 *                                       "VZKIT vsock-sent port=P bytes=N sha256=HEX"
 *   vsock-tool http-get CID PORT PATH   HTTP/1.0 GET over vsock; the body on stdout, exit 1 unless 200
 *   vsock-tool push ADDR N              for benchmarks: connect, send N bytes (a repeated buffer: no
 *                                       cost per byte), half-close, wait for the peer's EOF
 *   vsock-tool pull ADDR                for benchmarks: connect, read to EOF
 *                                       (ADDR: vsock:CID:PORT or tcp:A.B.C.D:PORT)
 *   vsock-tool random N                 the same N bytes on stdout
 *   vsock-tool sha256                   sha256 of stdin, in hex
 *
 * Listeners print "VZKIT vsock-listening port=P" once they listen, serve each
 * connection on a thread of its own (cheaper than fork under TCG) and run
 * until killed. The pseudo-random bytes are xorshift64
 * from a fixed seed: cheap under TCG, and the sha256 says they all arrived. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

/* ---- sha256 (FIPS 180-4) ---- */

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t used;
	uint64_t total;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 7] +
		       (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, initial, sizeof(initial));
	s->used = 0;
	s->total = 0;
}

static void sha256_update(struct sha256 *s, const uint8_t *p, size_t len)
{
	s->total += len;
	while (len > 0) {
		if (s->used == 0 && len >= 64) {
			sha256_block(s, p);
			p += 64;
			len -= 64;
			continue;
		}
		size_t take = 64 - s->used < len ? 64 - s->used : len;
		memcpy(s->block + s->used, p, take);
		s->used += take;
		p += take;
		len -= take;
		if (s->used == 64) {
			sha256_block(s, s->block);
			s->used = 0;
		}
	}
}

static void sha256_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80, zero = 0, length[8];

	sha256_update(s, &pad, 1);
	while (s->used != 56)
		sha256_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		length[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, length, 8);
	for (int i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* ---- helpers ---- */

static void fill_random(uint64_t *state, uint8_t *buffer, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = *state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*state = x;
		memcpy(buffer + i, &x, len - i < 8 ? len - i : 8);
	}
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int vsock_connect(unsigned cid, unsigned port)
{
	struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		fprintf(stderr, "vsock-tool: connect %u:%u: %s\n", cid, port, strerror(errno));
		exit(1);
	}
	return fd;
}

static uint64_t number(const char *text)
{
	char *end;
	unsigned long long value = strtoull(text, &end, 0);
	if (*end != '\0') {
		fprintf(stderr, "vsock-tool: not a number: %s\n", text);
		exit(2);
	}
	return value;
}

/* ---- modes ---- */

static int relay(int fd)
{
	uint8_t buffer[CHUNK];
	bool in_open = true, sock_open = true;

	while (sock_open) {
		struct pollfd polls[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
		if (poll(polls, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (polls[0].revents) {
			ssize_t n = read(0, buffer, sizeof(buffer));
			if (n <= 0) {
				in_open = false;
				shutdown(fd, SHUT_WR);
			} else if (write_all(fd, buffer, (size_t)n) != 0) {
				return 1;
			}
		}
		if (polls[1].revents) {
			ssize_t n = read(fd, buffer, sizeof(buffer));
			if (n <= 0)
				sock_open = false;
			else if (write_all(1, buffer, (size_t)n) != 0)
				return 1;
		}
	}
	return 0;
}

static void send_random(int fd, unsigned port, uint64_t bytes, const char *label)
{
	uint8_t *buffer = malloc(CHUNK);
	uint64_t state = 0x9e3779b97f4a7c15ull, sent = 0;
	struct sha256 sha;
	char hex[65];

	sha256_init(&sha);
	while (sent < bytes) {
		size_t piece = bytes - sent < CHUNK ? (size_t)(bytes - sent) : CHUNK;
		fill_random(&state, buffer, piece);
		sha256_update(&sha, buffer, piece);
		if (write_all(fd, buffer, piece) != 0)
			break;
		sent += piece;
	}
	close(fd);
	free(buffer);
	sha256_hex(&sha, hex);
	printf("VZKIT %s port=%u bytes=%llu sha256=%s\n", label, port, (unsigned long long)sent, hex);
	fflush(stdout);
}

static void serve(int fd, unsigned port, const char *kind, uint64_t bytes)
{
	uint8_t *buffer = malloc(CHUNK);

	if (buffer == NULL) {
		close(fd);
		return;
	}

	if (strcmp(kind, "echo") == 0) {
		ssize_t n;
		while ((n = read(fd, buffer, CHUNK)) > 0)
			if (write_all(fd, buffer, (size_t)n) != 0)
				break;
		close(fd);
	} else if (strcmp(kind, "sink") == 0) {
		struct sha256 sha;
		char hex[65];
		ssize_t n;
		sha256_init(&sha);
		while ((n = read(fd, buffer, CHUNK)) > 0)
			sha256_update(&sha, buffer, (size_t)n);
		close(fd);
		uint64_t total = sha.total;
		sha256_hex(&sha, hex);
		printf("VZKIT vsock-sink port=%u bytes=%llu sha256=%s\n", port, (unsigned long long)total, hex);
		fflush(stdout);
	} else if (strcmp(kind, "source") == 0) {
		send_random(fd, port, bytes, "vsock-source");
	} else if (strcmp(kind, "qga") == 0) {
		static const char answer[] = "{\"return\": {}}\n";
		size_t used = 0;
		ssize_t n;
		while ((n = read(fd, buffer + used, CHUNK - 1 - used)) > 0) {
			uint8_t *newline;
			used += (size_t)n;
			while ((newline = memchr(buffer, '\n', used)) != NULL) {
				*newline = '\0';
				printf("VZKIT qga port=%u command=%s\n", port, (const char *)buffer);
				fflush(stdout);
				if (write_all(fd, (const uint8_t *)answer, sizeof(answer) - 1) != 0)
					break;
				used -= (size_t)(newline + 1 - buffer);
				memmove(buffer, newline + 1, used);
			}
			if (used == CHUNK - 1)
				used = 0; /* a line longer than the buffer: not an agent command */
		}
		close(fd);
	} else if (strcmp(kind, "hello") == 0) {
		static const char hello[] = "hello from the guest\n";
		if (write_all(fd, (const uint8_t *)hello, sizeof(hello) - 1) != 0) {
			/* the host went away first */
		}
		close(fd);
	}
	free(buffer);
}

struct job {
	int fd;
	unsigned port;
	const char *kind;
	uint64_t bytes;
};

static void *serve_thread(void *context)
{
	struct job *job = context;
	serve(job->fd, job->port, job->kind, job->bytes);
	free(job);
	return NULL;
}

static int listen_forever(unsigned port, const char *kind, uint64_t bytes)
{
	struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 64) != 0) {
		fprintf(stderr, "vsock-tool: listen %u: %s\n", port, strerror(errno));
		return 1;
	}
	printf("VZKIT vsock-listening port=%u\n", port);
	fflush(stdout);
	for (;;) {
		pthread_t thread;
		pthread_attr_t attr;
		struct job *job = malloc(sizeof(*job));
		int connection = accept(fd, NULL, NULL);
		if (connection < 0 || job == NULL) {
			free(job);
			if (connection >= 0)
				close(connection);
			continue;
		}
		*job = (struct job){connection, port, kind, bytes};
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&thread, &attr, serve_thread, job) != 0) {
			close(connection);
			free(job);
		}
		pthread_attr_destroy(&attr);
	}
}

/* vsock:CID:PORT or tcp:A.B.C.D:PORT, connected. */
static int connect_address(const char *spec)
{
	char host[64];
	unsigned cid, port;

	if (sscanf(spec, "vsock:%u:%u", &cid, &port) == 2)
		return vsock_connect(cid, port);
	if (sscanf(spec, "tcp:%63[0-9.]:%u", host, &port) == 2) {
		struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || inet_pton(AF_INET, host, &address.sin_addr) != 1 ||
		    connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
			fprintf(stderr, "vsock-tool: connect %s: %s\n", spec, strerror(errno));
			exit(1);
		}
		return fd;
	}
	fprintf(stderr, "vsock-tool: not an address: %s\n", spec);
	exit(2);
}

static int push(int fd, uint64_t bytes)
{
	static uint8_t buffer[CHUNK];
	uint64_t state = 0x9e3779b97f4a7c15ull;

	fill_random(&state, buffer, sizeof(buffer));
	for (uint64_t sent = 0; sent < bytes;) {
		size_t piece = bytes - sent < CHUNK ? (size_t)(bytes - sent) : CHUNK;
		if (write_all(fd, buffer, piece) != 0)
			return 1;
		sent += piece;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buffer, sizeof(buffer)) > 0)
		;
	close(fd);
	return 0;
}

static int pull(int fd)
{
	static uint8_t buffer[CHUNK];

	while (read(fd, buffer, sizeof(buffer)) > 0)
		;
	close(fd);
	return 0;
}

/* Reads the whole answer, then writes what follows the blank line after the headers. */
static int http_get(int fd, const char *path)
{
	char request[512];
	size_t capacity = 65536, used = 0;
	char *answer = malloc(capacity);
	ssize_t n;

	snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: vsock\r\n\r\n", path);
	if (answer == NULL || write_all(fd, (const uint8_t *)request, strlen(request)) != 0)
		return 1;
	while ((n = read(fd, answer + used, capacity - used)) > 0) {
		used += (size_t)n;
		if (used == capacity && (answer = realloc(answer, capacity *= 2)) == NULL)
			return 1;
	}
	close(fd);
	char *body = memmem(answer, used, "\r\n\r\n", 4);
	if (body == NULL || used < 12 || memcmp(answer + 9, "200", 3) != 0)
		return 1;
	body += 4;
	return write_all(1, (const uint8_t *)body, used - (size_t)(body - answer)) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return relay(vsock_connect((unsigned)number(argv[2]), (unsigned)number(argv[3])));
	if (argc >= 4 && strcmp(argv[1], "listen") == 0 &&
	    (strcmp(argv[3], "echo") == 0 || strcmp(argv[3], "sink") == 0 || strcmp(argv[3], "hello") == 0 ||
	     strcmp(argv[3], "qga") == 0 ||
	     (strcmp(argv[3], "source") == 0 && argc == 5)))
		return listen_forever((unsigned)number(argv[2]), argv[3], argc == 5 ? number(argv[4]) : 0);
	if (argc == 5 && strcmp(argv[1], "send") == 0) {
		unsigned port = (unsigned)number(argv[3]);
		send_random(vsock_connect((unsigned)number(argv[2]), port), port, number(argv[4]), "vsock-sent");
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "http-get") == 0)
		return http_get(vsock_connect((unsigned)number(argv[2]), (unsigned)number(argv[3])), argv[4]);
	if (argc == 4 && strcmp(argv[1], "push") == 0)
		return push(connect_address(argv[2]), number(argv[3]));
	if (argc == 3 && strcmp(argv[1], "pull") == 0)
		return pull(connect_address(argv[2]));
	if (argc == 3 && strcmp(argv[1], "random") == 0) {
		static uint8_t buffer[CHUNK];
		uint64_t state = 0x9e3779b97f4a7c15ull, left = number(argv[2]);
		while (left > 0) {
			size_t piece = left < CHUNK ? (size_t)left : CHUNK;
			fill_random(&state, buffer, piece);
			if (write_all(1, buffer, piece) != 0)
				return 1;
			left -= piece;
		}
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "sha256") == 0) {
		static uint8_t buffer[CHUNK];
		struct sha256 sha;
		char hex[65];
		ssize_t n;
		sha256_init(&sha);
		while ((n = read(0, buffer, sizeof(buffer))) > 0)
			sha256_update(&sha, buffer, (size_t)n);
		sha256_hex(&sha, hex);
		printf("%s\n", hex);
		return 0;
	}
	fprintf(stderr, "usage: vsock-tool connect CID PORT | listen PORT echo|sink|hello|qga|source N | send CID PORT N | http-get CID PORT PATH | push ADDR N | pull ADDR | random N | sha256\n");
	return 2;
}
