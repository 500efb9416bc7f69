/* make bench: parse and validate N --device flags (mixed types, every one
 * distinct where the rules want it: ports, sockets, tags, log files, MACs,
 * fds), for N = 1,000, 10,000 and 100,000. Prints the median time of several
 * runs, the time per device and the ratio between sizes: a ratio near 10 for
 * 10x the devices means linear. The target is 10,000 devices under 50 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/args.h"
#include "vz/vz.h"

#define DEVICE_KINDS 14

/* The option string of device i. */
static char *device_text(size_t i)
{
	char text[160];
	size_t n = i / DEVICE_KINDS;
	unsigned mac = (unsigned)i;

	switch (i % DEVICE_KINDS) {
	case 0:
		snprintf(text, sizeof(text), "virtio-blk,path=/vm/disk-%zu.img,deviceId=d%zu", n, n);
		break;
	case 1:
		snprintf(text, sizeof(text), "nvme,path=/vm/nvme-%zu.img,type=image", n);
		break;
	case 2:
		snprintf(text, sizeof(text), "usb-mass-storage,path=/vm/usb-%zu.iso,readonly", n);
		break;
	case 3:
		snprintf(text, sizeof(text), "nbd,uri=nbd://192.168.64.1:10809/export%zu,timeout=5000", n);
		break;
	case 4:
		snprintf(text, sizeof(text), "virtio-net,nat,mac=52:54:%02x:%02x:%02x:%02x", (mac >> 24) & 0xff,
			 (mac >> 16) & 0xff, (mac >> 8) & 0xff, mac & 0xff);
		break;
	case 5:
		snprintf(text, sizeof(text), "virtio-net,unixSocketPath=/run/net-%zu.sock,mac=5a:54:%02x:%02x:%02x:%02x", n,
			 (mac >> 24) & 0xff, (mac >> 16) & 0xff, (mac >> 8) & 0xff, mac & 0xff);
		break;
	case 6:
		snprintf(text, sizeof(text), "virtio-net,fd=%zu,mac=5e:54:%02x:%02x:%02x:%02x", 3 + n, (mac >> 24) & 0xff,
			 (mac >> 16) & 0xff, (mac >> 8) & 0xff, mac & 0xff);
		break;
	case 7:
		snprintf(text, sizeof(text), "virtio-vsock,port=%zu,socketURL=/run/vsock-%zu.sock", 2000 + n, n);
		break;
	case 8:
		snprintf(text, sizeof(text), "virtio-vsock,port=%zu,socketURL=/run/vsock-c%zu.sock,connect", 2000 + n, n);
		break;
	case 9:
		snprintf(text, sizeof(text), "virtio-fs,sharedDir=/srv/share%zu", n);
		break;
	case 10:
		snprintf(text, sizeof(text), "rosetta,mountTag=rosetta%zu", n);
		break;
	case 11:
		snprintf(text, sizeof(text), "virtio-serial,logFilePath=/var/log/vm-%zu.log", n);
		break;
	case 12:
		snprintf(text, sizeof(text), "virtio-input,%s", n % 2 == 0 ? "keyboard" : "pointing");
		break;
	default:
		snprintf(text, sizeof(text), "virtio-rng");
		break;
	}
	return strdup(text);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median milliseconds of `runs` parse+validate runs over `count` devices. */
static double bench(size_t count, int runs)
{
	size_t argc = 3 + 2 * count;
	char **argv = calloc(argc + 1, sizeof(char *));
	char **work = calloc(argc + 1, sizeof(char *));
	double times[16];

	argv[0] = strdup("vzkit");
	argv[1] = strdup("--bootloader");
	argv[2] = strdup("linux,kernel=/vm/vmlinuz");
	for (size_t i = 0; i < count; i++) {
		argv[3 + 2 * i] = strdup("--device");
		argv[4 + 2 * i] = device_text(i);
	}
	for (int r = 0; r < runs; r++) {
		struct vm_description vm;
		struct run_options options;
		struct vz_vm_configuration vz;
		struct vzk_error err = {0};
		double start;

		memcpy(work, argv, (argc + 1) * sizeof(char *)); /* getopt may permute */
		vm_description_init(&vm);
		start = now_ms();
		if (args_parse((int)argc, work, &vm, &options, &err) != 0 || vm_description_to_vz(&vm, &vz, &err) != 0) {
			fprintf(stderr, "bench_parse: %zu devices refused: %s\n", count, err.message);
			exit(1);
		}
		times[r] = now_ms() - start;
		if (vz.storage_device_count + vz.network_device_count + vz.vsock_port_count + vz.directory_share_count +
			    vz.serial_port_count + vz.keyboard_count + vz.pointing_device_count + vz.entropy_device_count !=
		    count) {
			fprintf(stderr, "bench_parse: the configuration does not hold %zu devices\n", count);
			exit(1);
		}
		vz_vm_configuration_free(&vz);
		vm_description_free(&vm);
		run_options_free(&options);
	}
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	free(work);
	qsort(times, (size_t)runs, sizeof(times[0]), compare_doubles);
	return times[runs / 2];
}

int main(void)
{
	static const struct {
		size_t count;
		int runs;
	} sizes[] = {{1000, 9}, {10000, 7}, {100000, 3}};
	double ms[3];

	bench(1000, 1); /* warm up the allocator and caches */
	for (int i = 0; i < 3; i++) {
		ms[i] = bench(sizes[i].count, sizes[i].runs);
		printf("parse+validate %6zu --device flags: %9.2f ms median of %d runs, %6.0f ns per device\n", sizes[i].count,
		       ms[i], sizes[i].runs, ms[i] * 1e6 / (double)sizes[i].count);
	}
	printf("ratio 10,000/1,000:   %.1f (10.0 is linear)\n", ms[1] / ms[0]);
	printf("ratio 100,000/10,000: %.1f (10.0 is linear)\n", ms[2] / ms[1]);
	printf("10,000 devices: %.2f ms (target: under 50 ms) — %s\n", ms[1], ms[1] < 50.0 ? "met" : "NOT met");
	return 0;
}
