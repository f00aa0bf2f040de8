/*
 * serve_web.c — the web view (docs/SERVER.md, "Web view"): web/'s files,
 * compiled into engram by web/embed.py, served at / and /web/NAME.  The
 * page reads the store through the server's own routes.
 */
#include "serve.h"

#include <string.h>

typedef struct web_asset {
	const char *path, *type;
	const unsigned char *data;
	size_t len;
} web_asset;

extern const web_asset WEB_ASSETS[];

static enum MHD_Result get_asset(srv *s, struct MHD_Connection *c, const char *url,
				 const char *method, conn *k)
{
	(void)s, (void)k;
	for (const web_asset *a = WEB_ASSETS; a->path; a++) {
		if (strcmp(a->path, url))
			continue;
		struct MHD_Response *r = MHD_create_response_from_buffer(a->len, (void *)a->data,
									 MHD_RESPMEM_PERSISTENT);
		if (r) {
			MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
			MHD_add_response_header(r, "Cache-Control", "no-cache");
		}
		return srv_queue(c, MHD_HTTP_OK, r, a->type);
	}
	return srv_not_found(c, method, url);
}

const srv_route SRV_WEB_ROUTES[] = {
	{ "/", "GET HEAD", SCOPE_NONE, get_asset, 0 },
	{ "/web/", "GET HEAD", SCOPE_NONE, get_asset, 0 },
	{ NULL, NULL, 0, NULL, 0 },
};
