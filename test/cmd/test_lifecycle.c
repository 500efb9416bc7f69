/* lifecycle_run against a fake engine: the order of the teardown. The vsock
 * services' threads call the engine (a host client on a connect-mode port
 * makes its accept loop call vsock_connect), so they must be over before
 * the engine VM is destroyed; the engine may still call the services back
 * (a guest connection) until it is destroyed, so their memory must last
 * until then. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd/lifecycle.h"
#include "test/testlib.h"

static char dir[] = "/tmp/vzkit-lifecycle-test.XXXXXX";
static char socket_path[100];

struct engine_vm {
	int unused;
};
static struct engine_vm the_vm;

static atomic_bool destroyed, in_connect;
static atomic_int connect_calls, used_after_destroy, destroyed_during_connect;
static void (*guest_port_callback)(void *, int);
static void *guest_port_context;
static int late_guest_end = -1;

static int fake_create(const struct vz_vm_configuration *config, const struct engine_options *options,
		       struct engine_vm **out, struct vzk_error *err)
{
	(void)config, (void)options, (void)err;
	*out = &the_vm;
	return 0;
}

static int fake_start(struct engine_vm *vm, struct vzk_error *err)
{
	(void)vm, (void)err;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&pause, NULL);
}

/* A host client connects to the connect-mode port's socket; the guest
 * powers off while the proxy is still dialing the guest. */
static int fake_run(struct engine_vm *vm, struct vzk_error *err)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	int client = socket(AF_UNIX, SOCK_STREAM, 0);

	(void)vm, (void)err;
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", socket_path);
	if (client >= 0 && connect(client, (struct sockaddr *)&address, sizeof(address)) == 0)
		for (int i = 0; i < 200 && !atomic_load(&in_connect); i++)
			sleep_ms(10);
	if (client >= 0)
		close(client);
	return 0;
}

static enum vm_state fake_state(struct engine_vm *vm)
{
	(void)vm;
	return VM_STATE_STOPPED;
}

static int fake_request(struct engine_vm *vm, enum vm_state_request request, struct vzk_error *err)
{
	(void)vm, (void)request, (void)err;
	return 0;
}

static int fake_vsock_listen(struct engine_vm *vm, uint32_t port, void (*on_connection)(void *, int), void *context,
			     struct vzk_error *err)
{
	(void)vm, (void)port, (void)err;
	guest_port_callback = on_connection;
	guest_port_context = context;
	return 0;
}

/* Slow, like a guest that takes its time to answer. */
static int fake_vsock_connect(struct engine_vm *vm, uint32_t port, int *fd, struct vzk_error *err)
{
	(void)vm, (void)port;
	atomic_fetch_add(&connect_calls, 1);
	if (atomic_load(&destroyed))
		atomic_fetch_add(&used_after_destroy, 1);
	atomic_store(&in_connect, true);
	sleep_ms(300);
	if (atomic_load(&destroyed))
		atomic_fetch_add(&used_after_destroy, 1);
	atomic_store(&in_connect, false);
	*fd = -1;
	return vzk_runtime_error(err, "the fake guest refuses");
}

/* Until it is gone, the engine may still hand the services a guest
 * connection: it must land on live memory and be closed. */
static void fake_destroy(struct engine_vm *vm)
{
	int pair[2];

	(void)vm;
	if (atomic_load(&in_connect))
		atomic_fetch_add(&destroyed_during_connect, 1);
	if (guest_port_callback != NULL && socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0) {
		late_guest_end = pair[1];
		guest_port_callback(guest_port_context, pair[0]);
	}
	atomic_store(&destroyed, true);
}

static const struct vz_engine_ops fake_engine = {
	.name = "fake",
	.create = fake_create,
	.start = fake_start,
	.run = fake_run,
	.state = fake_state,
	.request = fake_request,
	.vsock_listen = fake_vsock_listen,
	.vsock_connect = fake_vsock_connect,
	.destroy = fake_destroy,
};

static void test_teardown_order(void)
{
	struct vm_description description;
	struct vz_vm_configuration vz = {0};
	struct run_options options = {0};
	struct vzk_error err = {0};
	struct vz_vsock_port *port;
	char guest_socket[100];
	char byte;

	vm_description_init(&description);
	snprintf(socket_path, sizeof(socket_path), "%s/connect.sock", dir);
	snprintf(guest_socket, sizeof(guest_socket), "%s/listen.sock", dir);
	vz.socket_device = true;
	port = vz_add_vsock_port(&vz);
	port->port = 2000;
	port->socket_path = strdup(socket_path);
	port->listen = false;
	port = vz_add_vsock_port(&vz);
	port->port = 2001;
	port->socket_path = strdup(guest_socket);
	port->listen = true;

	TEST_CASE("lifecycle: the run ends normally");
	CHECK(lifecycle_run(&fake_engine, &description, &vz, &options, NULL, &err) == 0);
	TEST_CASE("lifecycle: the proxy dialed the guest");
	CHECK(atomic_load(&connect_calls) == 1);
	CHECK_NAMED("lifecycle: the engine is not destroyed while a service thread is inside vsock_connect",
		    atomic_load(&destroyed_during_connect) == 0 && atomic_load(&used_after_destroy) == 0,
		    "destroyed during connect %d, engine used after destroy %d", atomic_load(&destroyed_during_connect),
		    atomic_load(&used_after_destroy));
	struct pollfd readable = {.fd = late_guest_end, .events = POLLIN};
	CHECK_NAMED("lifecycle: a guest connection during destroy lands on live services and is closed",
		    late_guest_end >= 0 && poll(&readable, 1, 1000) == 1 && read(late_guest_end, &byte, 1) == 0,
		    "guest end %d", late_guest_end);
	if (late_guest_end >= 0)
		close(late_guest_end);
	vz_vm_configuration_free(&vz);
	vm_description_free(&description);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	test_teardown_order();
	unlink(socket_path);
	rmdir(dir);
	TEST_EXIT();
}
