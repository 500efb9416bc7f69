/* Libraries that only some runs need, opened on first use (Linux).
 *
 * libcurl and libcrypto serve --fetch, libisofs serves --cloud-init. Linked
 * the ordinary way they (and the 25 libraries they pull in: TLS, Kerberos,
 * LDAP, compression) were loaded and relocated at every start: +7 ms before
 * vzkit's main and +3.5 MiB resident for the VM's whole life
 * (doc/performance.md). Here each function they export to vzkit is defined
 * with the library's own prototype (from its header, so the compiler checks
 * every signature) and forwards to the real one, which is looked up once;
 * the library is dlopen'ed on the first call. fetch.c and cloudinit.c call
 * them as they always did.
 *
 * Calling one more function of these libraries means adding its forwarder
 * here: until then vzkit does not link (an undefined reference), so none can
 * be forgotten.
 *
 * When a library cannot be opened the functions fail the library's own way
 * (NULL, CURLE_FAILED_INIT, ISO_ERROR, 0), so the caller's error path runs
 * and names the step that failed. */
#define CURL_DISABLE_TYPECHECK /* curl_easy_setopt/getinfo are defined here, not wrapped */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdint.h> /* before libisofs.h, which uses uint32_t without it */
#include <libisofs/libisofs.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

struct ondemand_library {
	const char *soname;
	pthread_mutex_t lock;
	void *handle;
	int tried;
};

/* The sonames the headers above describe (ABI majors that have held for
 * years: libcurl 4, OpenSSL 3, libisofs 6). */
static struct ondemand_library libcurl = {"libcurl.so.4", PTHREAD_MUTEX_INITIALIZER, NULL, 0};
static struct ondemand_library libcrypto = {"libcrypto.so.3", PTHREAD_MUTEX_INITIALIZER, NULL, 0};
static struct ondemand_library libisofs = {"libisofs.so.6", PTHREAD_MUTEX_INITIALIZER, NULL, 0};

/* The real function, or NULL when its library or the symbol is missing. */
static void *resolve(struct ondemand_library *library, const char *name, void **slot)
{
	void *symbol = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (symbol != NULL)
		return symbol;
	pthread_mutex_lock(&library->lock);
	if (!library->tried) {
		library->tried = 1;
		/* RTLD_LOCAL: its symbols stay out of the global scope, so
		 * dlsym below finds the library's definition, never ours. */
		library->handle = dlopen(library->soname, RTLD_NOW | RTLD_LOCAL);
	}
	symbol = library->handle != NULL ? dlsym(library->handle, name) : NULL;
	pthread_mutex_unlock(&library->lock);
	__atomic_store_n(slot, symbol, __ATOMIC_RELEASE);
	return symbol;
}

/* real_<fn>: the library's fn, typed as its header declares it. */
#define REAL(library, fn)                                                                  \
	static void *slot_##fn;                                                            \
	__typeof__(fn) *real_##fn = (__typeof__(fn) *)resolve(&library, #fn, &slot_##fn)
/* A forwarder for a function of fixed arity. */
#define FORWARD(library, type, fn, failed, params, args) \
	type fn params                                   \
	{                                                \
		REAL(library, fn);                       \
		return real_##fn != NULL ? real_##fn args : (failed); \
	}
#define FORWARD_VOID(library, fn, params, args) \
	void fn params                          \
	{                                       \
		REAL(library, fn);              \
		if (real_##fn != NULL)          \
			real_##fn args;         \
	}

/* ---- libcurl (--fetch) ---- */

FORWARD(libcurl, CURLcode, curl_global_init, CURLE_FAILED_INIT, (long flags), (flags))
FORWARD_VOID(libcurl, curl_global_cleanup, (void), ())
FORWARD(libcurl, CURL *, curl_easy_init, NULL, (void), ())
FORWARD_VOID(libcurl, curl_easy_cleanup, (CURL *curl), (curl))
FORWARD(libcurl, CURLcode, curl_easy_perform, CURLE_FAILED_INIT, (CURL *curl), (curl))
FORWARD(libcurl, const char *, curl_easy_strerror, "libcurl.so.4 could not be loaded", (CURLcode code), (code))
FORWARD(libcurl, struct curl_slist *, curl_slist_append, NULL, (struct curl_slist *list, const char *text),
	(list, text))
FORWARD_VOID(libcurl, curl_slist_free_all, (struct curl_slist *list), (list))

/* setopt and getinfo take exactly one more argument: a long, a curl_off_t,
 * or a pointer (data or function). On the LP64 ABIs vzkit runs on (x86_64,
 * aarch64) all three travel as one 64-bit integer-class argument, so the
 * argument is carried on as one. */
_Static_assert(sizeof(long) == sizeof(void *) && sizeof(curl_off_t) == sizeof(void *),
	       "curl's variadic argument is forwarded as one pointer-sized value");

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	REAL(libcurl, curl_easy_setopt);
	va_list args;
	void *value;

	va_start(args, option);
	value = va_arg(args, void *);
	va_end(args);
	return real_curl_easy_setopt != NULL ? real_curl_easy_setopt(curl, option, value) : CURLE_FAILED_INIT;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	REAL(libcurl, curl_easy_getinfo);
	va_list args;
	void *out;

	va_start(args, info);
	out = va_arg(args, void *);
	va_end(args);
	return real_curl_easy_getinfo != NULL ? real_curl_easy_getinfo(curl, info, out) : CURLE_FAILED_INIT;
}

/* ---- libcrypto (--fetch: sha256) ---- */

FORWARD(libcrypto, EVP_MD_CTX *, EVP_MD_CTX_new, NULL, (void), ())
FORWARD_VOID(libcrypto, EVP_MD_CTX_free, (EVP_MD_CTX *ctx), (ctx))
FORWARD(libcrypto, const EVP_MD *, EVP_sha256, NULL, (void), ())
FORWARD(libcrypto, int, EVP_DigestInit_ex, 0, (EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl),
	(ctx, type, impl))
FORWARD(libcrypto, int, EVP_DigestUpdate, 0, (EVP_MD_CTX *ctx, const void *data, size_t count), (ctx, data, count))
FORWARD(libcrypto, int, EVP_DigestFinal_ex, 0, (EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size),
	(ctx, md, size))

/* ---- libisofs (--cloud-init) ---- */

/* libisofs.h declares these two without a prototype: "int iso_init();". */
int iso_init(void);
void iso_finish(void);

FORWARD(libisofs, int, iso_init, (int)ISO_ERROR, (void), ())
FORWARD_VOID(libisofs, iso_finish, (void), ())
FORWARD(libisofs, int, iso_set_msgs_severities, (int)ISO_ERROR, (char *queue_severity, char *print_severity, char *print_id),
	(queue_severity, print_severity, print_id))
FORWARD(libisofs, int, iso_image_new, (int)ISO_ERROR, (const char *name, IsoImage **image), (name, image))
FORWARD_VOID(libisofs, iso_image_unref, (IsoImage *image), (image))
FORWARD(libisofs, IsoDir *, iso_image_get_root, NULL, (const IsoImage *image), (image))
FORWARD_VOID(libisofs, iso_image_set_volume_id, (IsoImage *image, const char *volume_id), (image, volume_id))
FORWARD(libisofs, int, iso_memory_stream_new, (int)ISO_ERROR, (unsigned char *buf, size_t size, IsoStream **stream),
	(buf, size, stream))
FORWARD_VOID(libisofs, iso_stream_unref, (IsoStream *stream), (stream))
FORWARD(libisofs, int, iso_image_add_new_file, (int)ISO_ERROR,
	(IsoImage *image, IsoDir *parent, const char *name, IsoStream *stream, IsoFile **file),
	(image, parent, name, stream, file))
FORWARD(libisofs, int, iso_tree_add_new_node, (int)ISO_ERROR,
	(IsoImage *image, IsoDir *parent, const char *name, const char *path, IsoNode **node),
	(image, parent, name, path, node))
FORWARD(libisofs, int, iso_write_opts_new, (int)ISO_ERROR, (IsoWriteOpts **opts, int profile), (opts, profile))
FORWARD_VOID(libisofs, iso_write_opts_free, (IsoWriteOpts *opts), (opts))
FORWARD(libisofs, int, iso_write_opts_set_rockridge, (int)ISO_ERROR, (IsoWriteOpts *opts, int enable), (opts, enable))
FORWARD(libisofs, int, iso_write_opts_set_joliet, (int)ISO_ERROR, (IsoWriteOpts *opts, int enable), (opts, enable))
FORWARD(libisofs, int, iso_write_opts_set_relaxed_vol_atts, (int)ISO_ERROR, (IsoWriteOpts *opts, int allow),
	(opts, allow))
FORWARD(libisofs, int, iso_image_create_burn_source, (int)ISO_ERROR,
	(IsoImage *image, IsoWriteOpts *opts, struct burn_source **burn_src), (image, opts, burn_src))
