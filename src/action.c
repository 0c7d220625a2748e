/*
 * action: one-click links and SMS replies — signed tokens, the
 * confirmation and result pages (server-rendered, no JavaScript, in the
 * recipient's language) and the inbound SMS webhook.  Every change goes
 * through the store's own operations, so it leaves the same events and
 * recomputes the schedule like a change made with promisectl.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "promised/action.h"
#include "promised/calendar.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/log.h"
#include "promised/promise.h"
#include "promised/sbuf.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define TOKEN_VERSION "1"
#define PAYLOAD_MAX 160
#define MAC_LEN 32
#define WEBHOOK_TOLERANCE 300

static const char *const kind_names[ACTION_KIND_COUNT] = {
	"done", "ack", "snooze", "handover", "unreachable",
};

const char *
action_kind_name(enum action_kind k)
{
	return (unsigned)k < ACTION_KIND_COUNT ? kind_names[k] : "?";
}

int
action_kind_parse(const char *name, enum action_kind *out)
{
	size_t i;

	for (i = 0; name != NULL && i < ACTION_KIND_COUNT; i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum action_kind)i;
			return 0;
		}
	}
	return -1;
}

int
action_short_code(int64_t notification_id)
{
	int64_t m = notification_id % 9000;

	if (m < 0)
		m += 9000;
	return (int)m + 1000;
}

static int64_t
now_of(const struct action_opts *o)
{
	return o->clock != NULL ? o->clock(o->clock_ctx) : (int64_t)time(NULL);
}

/* ---- base64 (RFC 4648; standard with padding, url without) --------- */

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes n bytes into out (size >= 4 * ((n + 2) / 3) + 1). */
static void
b64_encode(const unsigned char *in, size_t n, int url, char *out)
{
	const char *a = url ? b64_url : b64_std;
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (i < n) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = a[(v >> 6) & 63];
		else if (!url)
			out[o++] = '=';
		if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
}

static int
b64_value(char c, int url)
{
	const char *a = url ? b64_url : b64_std;
	const char *p = c != '\0' ? strchr(a, c) : NULL;

	return p != NULL ? (int)(p - a) : -1;
}

/* Decodes len characters (padding allowed for standard) into out; returns
 * the byte count, or -1 when invalid or larger than outlen. */
static long
b64_decode(const char *in, size_t len, int url, unsigned char *out,
	   size_t outlen)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0, v;

	while (!url && len > 0 && in[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++) {
		v = b64_value(in[i], url);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, so every value has one encoding. */
	if (bits >= 6 || acc != 0)
		return -1;
	return (long)o;
}

/* ---- tokens ---------------------------------------------------------- */

static int
kid_valid(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++, n++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return 0;
	}
	return n >= 1 && n <= 16;
}

/* Staff ids travel in the payload and in actor names: a safe alphabet. */
static int
recipient_valid(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++, n++) {
		if (!isalnum((unsigned char)*s) && strchr("._@+-", *s) == NULL)
			return 0;
	}
	return n >= 1 && n <= 64;
}

static const struct action_key *
key_by_kid(const struct action_opts *o, const char *kid)
{
	size_t i;

	for (i = 0; i < o->nkeys; i++) {
		if (strcmp(o->keys[i].kid, kid) == 0)
			return &o->keys[i];
	}
	return NULL;
}

static void
mac_of(const struct action_key *k, const char *payload, size_t len,
       unsigned char mac[MAC_LEN])
{
	unsigned int maclen = MAC_LEN;

	HMAC(EVP_sha256(), k->secret, (int)k->secret_len,
	     (const unsigned char *)payload, len, mac, &maclen);
}

int
action_token_new(const struct action_opts *o, int64_t promise_id,
		 enum action_kind action, const char *recipient,
		 int64_t expires_at, char *out, size_t outlen, char *err,
		 size_t errlen)
{
	char payload[PAYLOAD_MAX], tok[ACTION_TOKEN_MAX];
	unsigned char mac[MAC_LEN];
	struct store_token row;
	uint64_t tid;
	int n;

	if (o->nkeys == 0 || !kid_valid(o->keys[0].kid)) {
		util_seterr(err, errlen, "no valid signing key");
		return -1;
	}
	if (!recipient_valid(recipient) || promise_id <= 0 ||
	    (unsigned)action >= ACTION_KIND_COUNT) {
		util_seterr(err, errlen, "invalid token fields");
		return -1;
	}
	if (getrandom(&tid, sizeof(tid), 0) != (ssize_t)sizeof(tid)) {
		util_seterr(err, errlen, "getrandom failed");
		return -1;
	}
	memset(&row, 0, sizeof(row));
	(void)snprintf(row.id, sizeof(row.id), "%016" PRIx64, tid);
	n = snprintf(payload, sizeof(payload), TOKEN_VERSION "|%s|%s|%" PRId64
		     "|%s|%s|%" PRId64, o->keys[0].kid, row.id, promise_id,
		     kind_names[action], recipient, expires_at);
	if (n < 0 || (size_t)n >= sizeof(payload)) {
		util_seterr(err, errlen, "token payload too long");
		return -1;
	}
	mac_of(&o->keys[0], payload, (size_t)n, mac);
	b64_encode((const unsigned char *)payload, (size_t)n, 1, tok);
	n = (int)strlen(tok);
	tok[n++] = '.';
	b64_encode(mac, MAC_LEN, 1, tok + n);
	if (util_strlcpy(out, tok, outlen) != 0) {
		util_seterr(err, errlen, "token buffer too small");
		return -1;
	}
	if (o->store == NULL)
		return 0;
	row.promise_id = promise_id;
	util_strlcpy(row.action, kind_names[action], sizeof(row.action));
	util_strlcpy(row.recipient, recipient, sizeof(row.recipient));
	row.created_at = now_of(o);
	row.expires_at = expires_at;
	return store_token_add(o->store, &row, err, errlen) == STORE_OK ? 0 : -1;
}

int
action_link_new(const struct action_opts *o, int64_t promise_id,
		enum action_kind action, const char *recipient,
		int64_t expires_at, char *out, size_t outlen, char *err,
		size_t errlen)
{
	char tok[ACTION_TOKEN_MAX];
	const char *base = o->public_url != NULL ? o->public_url : "";
	size_t blen = strlen(base);
	int n;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if (action_token_new(o, promise_id, action, recipient, expires_at,
			     tok, sizeof(tok), err, errlen) != 0)
		return -1;
	n = snprintf(out, outlen, "%.*s/a/%s", (int)blen, base, tok);
	if (n < 0 || (size_t)n >= outlen) {
		util_seterr(err, errlen, "link buffer too small");
		return -1;
	}
	return 0;
}

/* Splits payload into the fields of *t; 0 or -1. */
static int
payload_parse(char *payload, struct action_token *t)
{
	char *f[7], *save = NULL, *s;
	size_t n = 0, i;

	for (s = payload; n < NELEM(f); s = NULL) {
		f[n] = strtok_r(s, "|", &save);
		if (f[n] == NULL)
			break;
		n++;
	}
	if (n != NELEM(f) || strtok_r(NULL, "|", &save) != NULL)
		return -1;
	if (strcmp(f[0], TOKEN_VERSION) != 0 || !kid_valid(f[1]) ||
	    strlen(f[2]) != 16 || !recipient_valid(f[5]))
		return -1;
	for (i = 0; i < 16; i++) {
		if (!isxdigit((unsigned char)f[2][i]))
			return -1;
	}
	if (util_parse_int64(f[3], 1, INT64_MAX, &t->promise_id) != 0 ||
	    action_kind_parse(f[4], &t->action) != 0 ||
	    util_parse_int64(f[6], 0, INT64_MAX, &t->expires_at) != 0)
		return -1;
	util_strlcpy(t->kid, f[1], sizeof(t->kid));
	util_strlcpy(t->id, f[2], sizeof(t->id));
	util_strlcpy(t->recipient, f[5], sizeof(t->recipient));
	return 0;
}

enum action_token_rc
action_token_check(const struct action_opts *o, const char *token,
		   int64_t now, struct action_token *out)
{
	char payload[PAYLOAD_MAX], copy[PAYLOAD_MAX];
	unsigned char got[MAC_LEN + 4], want[MAC_LEN];
	const struct action_key *k;
	const char *dot;
	long plen, mlen;

	memset(out, 0, sizeof(*out));
	dot = token != NULL ? strchr(token, '.') : NULL;
	if (dot == NULL || strlen(token) >= ACTION_TOKEN_MAX)
		return ACTION_TOKEN_MALFORMED;
	plen = b64_decode(token, (size_t)(dot - token), 1,
			  (unsigned char *)payload, sizeof(payload) - 1);
	if (plen <= 0 || memchr(payload, '\0', (size_t)plen) != NULL)
		return ACTION_TOKEN_MALFORMED;
	payload[plen] = '\0';
	memcpy(copy, payload, (size_t)plen + 1);
	if (payload_parse(copy, out) != 0) {
		memset(out, 0, sizeof(*out));
		return ACTION_TOKEN_MALFORMED;
	}
	mlen = b64_decode(dot + 1, strlen(dot + 1), 1, got, sizeof(got));
	k = key_by_kid(o, out->kid);
	if (mlen != MAC_LEN || k == NULL)
		return ACTION_TOKEN_BAD_SIGNATURE;
	mac_of(k, payload, (size_t)plen, want);
	if (CRYPTO_memcmp(got, want, MAC_LEN) != 0)
		return ACTION_TOKEN_BAD_SIGNATURE;
	if (now >= out->expires_at)
		return ACTION_TOKEN_EXPIRED;
	return ACTION_TOKEN_OK;
}

/* ---- text helpers ------------------------------------------------- */

/* Appends tmpl with its "{}" replaced by arg (HTML-escaped when html). */
static void
buf_subst(struct sbuf *b, const char *tmpl, const char *arg, int html)
{
	const char *at = strstr(tmpl, "{}");
	size_t pre = at != NULL ? (size_t)(at - tmpl) : strlen(tmpl);

	if (html) {
		char *head = xstrndup(tmpl, pre);

		sbuf_html(b, head);
		free(head);
		if (at != NULL)
			sbuf_html(b, arg);
		sbuf_html(b, at != NULL ? at + 2 : "");
		return;
	}
	sbuf_add(b, tmpl, pre);
	if (at != NULL) {
		sbuf_puts(b, arg != NULL ? arg : "");
		sbuf_puts(b, at + 2);
	}
}

/* ---- languages ------------------------------------------------------ */

struct lang {
	const char *code;
	const char *question[ACTION_KIND_COUNT];
	const char *button[ACTION_KIND_COUNT];
	const char *result[ACTION_KIND_COUNT];
	const char *customer, *due, *owner, *to, *done;
	const char *already, *already_at;
	const char *refused, *expired, *hint;
	const char *conflict, *error, *choose;
	const char *sms_help, *sms_code;
};

static const struct lang langs[] = {
	{ "en",
	  { "Mark this promise as done?", "Let everyone know you are on it?",
	    "Snooze the reminders until {}?",
	    "Hand this promise over to a colleague?",
	    "Record that the customer could not be reached?" },
	  { "Done", "I'm on it", "Snooze", "Hand over", "Record attempt" },
	  { "Marked as done.", "Noted: you are on it.",
	    "Reminders snoozed until {}.", "Handed over to {}.",
	    "Recorded: customer unreachable (attempt {})." },
	  "Customer", "Due", "Owner", "Hand over to", "Done",
	  "Already done", "This link was already used on {}.",
	  "This link is not valid", "This link has expired",
	  "Use the links of the latest message, or ask a colleague to "
	  "update the promise.",
	  "Nothing changed: the promise is closed or already in that state.",
	  "Something went wrong and nothing was changed. Please try again "
	  "later.",
	  "Choose a colleague.",
	  "Reply DONE 1234, OK 1234 or SNOOZE 1234 1h with the code from "
	  "the message.",
	  "Code {} is not one of your recent messages." },
	{ "nl",
	  { "Deze belofte als afgehandeld markeren?",
	    "Laten weten dat je ermee bezig bent?",
	    "Herinneringen uitstellen tot {}?",
	    "Deze belofte aan een collega overdragen?",
	    "Noteren dat de klant niet bereikbaar was?" },
	  { "Klaar", "Ik ben ermee bezig", "Uitstellen", "Overdragen",
	    "Poging noteren" },
	  { "Gemarkeerd als afgehandeld.", "Genoteerd: je bent ermee bezig.",
	    "Herinneringen uitgesteld tot {}.", "Overgedragen aan {}.",
	    "Genoteerd: klant niet bereikbaar (poging {})." },
	  "Klant", "Tegen", "Eigenaar", "Overdragen aan", "Gelukt",
	  "Al gedaan", "Deze link werd al gebruikt op {}.",
	  "Deze link is niet geldig", "Deze link is verlopen",
	  "Gebruik de links van het laatste bericht, of vraag een collega "
	  "om de belofte bij te werken.",
	  "Er is niets veranderd: de belofte is afgesloten of al in die "
	  "toestand.",
	  "Er ging iets mis en er is niets veranderd. Probeer het later "
	  "opnieuw.",
	  "Kies een collega.",
	  "Antwoord KLAAR 1234, JA 1234 of SNOOZE 1234 1h met de code uit "
	  "het bericht.",
	  "Code {} hoort niet bij je recente berichten." },
	{ "fr",
	  { "Marquer cette promesse comme faite ?",
	    "Signaler que vous vous en occupez ?",
	    "Reporter les rappels jusqu'au {} ?",
	    "Confier cette promesse à un collègue ?",
	    "Noter que le client était injoignable ?" },
	  { "Fait", "Je m'en occupe", "Reporter", "Confier",
	    "Noter la tentative" },
	  { "Marquée comme faite.", "C'est noté : vous vous en occupez.",
	    "Rappels reportés jusqu'au {}.", "Confiée à {}.",
	    "Noté : client injoignable (tentative {})." },
	  "Client", "Échéance", "Responsable", "Confier à", "C'est fait",
	  "Déjà fait", "Ce lien a déjà été utilisé le {}.",
	  "Ce lien n'est pas valide", "Ce lien a expiré",
	  "Utilisez les liens du dernier message, ou demandez à un collègue "
	  "de mettre la promesse à jour.",
	  "Rien n'a changé : la promesse est close ou déjà dans cet état.",
	  "Une erreur s'est produite et rien n'a été modifié. Réessayez plus "
	  "tard.",
	  "Choisissez un collègue.",
	  "Répondez FAIT 1234, OUI 1234 ou SNOOZE 1234 1h avec le code du "
	  "message.",
	  "Le code {} ne correspond à aucun de vos messages récents." },
};

static const struct lang *
lang_by_code(const char *code)
{
	size_t i;

	for (i = 0; code != NULL && i < NELEM(langs); i++) {
		if (strcmp(langs[i].code, code) == 0)
			return &langs[i];
	}
	return &langs[0];
}

static const struct cfg_staff *
staff_of(const struct action_opts *o, const char *id)
{
	return o->cfg != NULL && id != NULL ? config_staff(o->cfg, id) : NULL;
}

static const struct lang *
lang_of(const struct action_opts *o, const char *staff_id)
{
	const struct cfg_staff *s = staff_of(o, staff_id);

	return lang_by_code(s != NULL ? s->locale : NULL);
}

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* The promise's site: its own, its team's, or the default one. */
static const struct cal_site *
site_of(const struct action_opts *o, const struct promise *p)
{
	const struct cal_site *site = NULL;
	const struct cfg_team *team;

	if (o->cfg == NULL)
		return NULL;
	team = nonempty(p->team) ? config_team(o->cfg, p->team) : NULL;
	if (nonempty(p->site))
		site = config_site(o->cfg, p->site);
	if (site == NULL && team != NULL && nonempty(team->site))
		site = config_site(o->cfg, team->site);
	if (site == NULL && nonempty(o->cfg->default_site))
		site = config_site(o->cfg, o->cfg->default_site);
	return site;
}

static void
local_time(const struct action_opts *o, const struct promise *p, int64_t t,
	   char *buf, size_t buflen)
{
	const struct cal_site *site = site_of(o, p);

	if (site != NULL)
		cal_format_local(site->tz, t, 0, buf, buflen);
	else
		util_format_utc(t, buf, buflen);
}

/* Snoozing for `dur` (0: the default 30 min, which moves to the next
 * opening when it would end while the site is closed). */
static int64_t
snooze_until(const struct action_opts *o, const struct promise *p,
	     int64_t now, int64_t dur)
{
	const struct cal_site *site;
	int64_t t, open;

	if (dur > 0)
		return now + dur;
	t = now + ACTION_SNOOZE_DEFAULT;
	site = site_of(o, p);
	if (site != NULL && !cal_is_open(site, t)) {
		open = cal_next_open(site, t);
		if (open > t)
			t = open;
	}
	return t;
}

static const char *
staff_name(const struct action_opts *o, const char *id)
{
	const struct cfg_staff *s = staff_of(o, id);

	return s != NULL && nonempty(s->name) ? s->name : id;
}

/* ---- pages ------------------------------------------------------------ */

static const char page_css[] =
	"body{margin:0;padding:16px;background:#f3f4f6;color:#1f2933;"
	"font:17px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}"
	"main{max-width:30em;margin:0 auto;background:#fff;border-radius:10px;"
	"padding:18px;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
	"h1{font-size:1.25em;margin:0 0 12px}"
	".t{font-weight:600;margin:0 0 8px}"
	"dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;"
	"margin:0 0 18px}dt{color:#52606d}dd{margin:0}"
	"label{display:block;margin:0 0 6px}"
	"select{width:100%;font-size:1em;padding:10px;margin:0 0 14px}"
	"button{width:100%;font-size:1.1em;padding:14px;border:0;"
	"border-radius:8px;background:#1d4ed8;color:#fff}"
	".ok{color:#166534}.bad{color:#991b1b}.note{color:#52606d}";

static void
page_begin(struct sbuf *b, const struct lang *l, const char *title)
{
	sbuf_printf(b, "<!DOCTYPE html>\n<html lang=\"%s\"><head>"
		    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
		    "content=\"width=device-width,initial-scale=1\">"
		    "<link rel=\"icon\" href=\"data:,\"><title>", l->code);
	sbuf_html(b, title);
	sbuf_printf(b, "</title><style>%s</style></head><body><main>",
		    page_css);
}

static void
page_end(struct sbuf *b, struct action_reply *out, int status)
{
	sbuf_puts(b, "</main></body></html>\n");
	out->status = status;
	out->content_type = "text/html; charset=utf-8";
	out->body = b->p;
	out->len = b->len;
	out->page = 1;
}

/* A page with a heading and one paragraph. */
static void
page_simple(struct action_reply *out, const struct lang *l, int status,
	    const char *cls, const char *head, const char *text)
{
	struct sbuf b = { 0 };

	page_begin(&b, l, head);
	sbuf_printf(&b, "<h1 class=\"%s\">", cls);
	sbuf_html(&b, head);
	sbuf_puts(&b, "</h1><p>");
	sbuf_html(&b, text);
	sbuf_puts(&b, "</p>");
	page_end(&b, out, status);
}

static void
summary(struct sbuf *b, const struct action_opts *o, const struct lang *l,
	const struct promise *p)
{
	char due[64];

	local_time(o, p, p->due_at, due, sizeof(due));
	sbuf_puts(b, "<p class=\"t\">");
	sbuf_html(b, p->title);
	sbuf_puts(b, "</p><dl>");
	if (nonempty(p->customer_name)) {
		sbuf_printf(b, "<dt>%s</dt><dd>", l->customer);
		sbuf_html(b, p->customer_name);
		sbuf_puts(b, "</dd>");
	}
	sbuf_printf(b, "<dt>%s</dt><dd>", l->due);
	sbuf_html(b, due);
	sbuf_printf(b, "</dd><dt>%s</dt><dd>", l->owner);
	sbuf_html(b, staff_name(o, p->owner));
	sbuf_puts(b, "</dd></dl>");
}

static const char *
team_of_staff(const struct action_opts *o, const char *id)
{
	const struct cfg_staff *s = staff_of(o, id);

	return s != NULL ? s->team : NULL;
}

/* Colleagues to hand over to: the owner's team first, then the rest. */
static void
colleague_select(struct sbuf *b, const struct action_opts *o,
		 const struct lang *l, const struct promise *p)
{
	const char *team = nonempty(p->team) ? p->team :
			   team_of_staff(o, p->owner);
	const struct cfg_staff *s;
	size_t i;
	int pass, same;

	sbuf_printf(b, "<label for=\"to\">%s</label><select id=\"to\" "
		    "name=\"to\" required>", l->to);
	for (pass = 0; pass < 2 && o->cfg != NULL; pass++) {
		for (i = 0; i < o->cfg->nstaff; i++) {
			s = &o->cfg->staff[i];
			same = team != NULL && s->team != NULL &&
			       strcmp(team, s->team) == 0;
			if (same != (pass == 0) ||
			    (p->owner != NULL && strcmp(s->id, p->owner) == 0))
				continue;
			sbuf_puts(b, "<option value=\"");
			sbuf_html(b, s->id);
			sbuf_puts(b, "\">");
			sbuf_html(b, nonempty(s->name) ? s->name : s->id);
			sbuf_puts(b, "</option>");
		}
	}
	sbuf_puts(b, "</select>");
}

static void
page_confirm(struct action_reply *out, const struct action_opts *o,
	     const struct lang *l, const struct action_token *t,
	     const struct promise *p, int64_t now, const char *problem)
{
	struct sbuf b = { 0 };
	char until[64];

	local_time(o, p, snooze_until(o, p, now, 0), until, sizeof(until));
	page_begin(&b, l, l->button[t->action]);
	sbuf_puts(&b, "<h1>");
	buf_subst(&b, l->question[t->action], until, 1);
	sbuf_puts(&b, "</h1>");
	summary(&b, o, l, p);
	if (problem != NULL) {
		sbuf_puts(&b, "<p class=\"bad\">");
		sbuf_html(&b, problem);
		sbuf_puts(&b, "</p>");
	}
	/* No action attribute: the form posts to this very URL. */
	sbuf_puts(&b, "<form method=\"post\">");
	if (t->action == ACTION_HANDOVER)
		colleague_select(&b, o, l, p);
	sbuf_puts(&b, "<button type=\"submit\">");
	sbuf_html(&b, l->button[t->action]);
	sbuf_puts(&b, "</button></form>");
	page_end(&b, out, problem != NULL ? 400 : 200);
}

/* The localized sentence for a stored result ("snooze:<until>" ...). */
static void
result_text(struct sbuf *b, const struct action_opts *o, const struct lang *l,
	    const struct promise *p, const char *result, int html)
{
	const char *colon = strchr(result, ':');
	const char *arg = colon != NULL ? colon + 1 : "";
	char name[16], when[64];
	enum action_kind k;
	int64_t t;

	util_strlcpy(name, result, sizeof(name));
	if (colon != NULL && (size_t)(colon - result) < sizeof(name))
		name[colon - result] = '\0';
	if (action_kind_parse(name, &k) != 0) {
		buf_subst(b, result, NULL, html);
		return;
	}
	if (k == ACTION_SNOOZE && util_parse_int64(arg, 0, INT64_MAX, &t) == 0) {
		local_time(o, p, t, when, sizeof(when));
		arg = when;
	} else if (k == ACTION_HANDOVER) {
		arg = staff_name(o, arg);
	}
	buf_subst(b, l->result[k], arg, html);
}

static void
page_result(struct action_reply *out, const struct action_opts *o,
	    const struct lang *l, const struct promise *p, const char *result,
	    int64_t used_at)
{
	struct sbuf b = { 0 };
	char when[64];

	page_begin(&b, l, used_at != 0 ? l->already : l->done);
	sbuf_printf(&b, "<h1 class=\"ok\">%s</h1>",
		    used_at != 0 ? l->already : l->done);
	sbuf_puts(&b, "<p id=\"result\">");
	result_text(&b, o, l, p, result, 1);
	sbuf_puts(&b, "</p>");
	if (used_at != 0) {
		local_time(o, p, used_at, when, sizeof(when));
		sbuf_puts(&b, "<p class=\"note\">");
		buf_subst(&b, l->already_at, when, 1);
		sbuf_puts(&b, "</p>");
	}
	summary(&b, o, l, p);
	page_end(&b, out, 200);
}

/* ---- doing the action --------------------------------------------- */

static int
count_unreachable(struct store *st, int64_t id)
{
	struct event *ev = NULL;
	size_t n = 0, i;
	int count = 0;
	char err[256];

	if (store_events(st, id, &ev, &n, err, sizeof(err)) != STORE_OK)
		return 0;
	for (i = 0; i < n; i++) {
		if (ev[i].kind == EVENT_NOTE && ev[i].detail != NULL &&
		    strncmp(ev[i].detail, "customer unreachable", 20) == 0)
			count++;
	}
	event_free_array(ev, n);
	return count;
}

/* Applies action k to p as actor; result gets what was done. */
static int
act(const struct action_opts *o, enum action_kind k, const struct promise *p,
    const char *to, int64_t dur, const char *actor, int64_t now,
    char *result, size_t rlen, char *err, size_t errlen)
{
	const struct cfg_staff *s;
	char note[64];
	int64_t until;
	int rc = STORE_INVALID, n;

	switch (k) {
	case ACTION_DONE:
		rc = store_close_promise(o->store, p->id, OUTCOME_KEPT, actor,
					 NULL, now, err, errlen);
		(void)snprintf(result, rlen, "done");
		break;
	case ACTION_ACK:
		rc = store_ack(o->store, p->id, actor, now, err, errlen);
		(void)snprintf(result, rlen, "ack");
		break;
	case ACTION_SNOOZE:
		until = snooze_until(o, p, now, dur);
		rc = store_snooze(o->store, p->id, until, actor, now, err,
				  errlen);
		(void)snprintf(result, rlen, "snooze:%" PRId64, until);
		break;
	case ACTION_HANDOVER:
		s = staff_of(o, to);
		if (s == NULL) {
			util_seterr(err, errlen, "no colleague chosen");
			break;
		}
		rc = store_reassign(o->store, p->id, s->id, s->team, actor,
				    now, err, errlen);
		(void)snprintf(result, rlen, "handover:%s", s->id);
		break;
	case ACTION_UNREACHABLE:
		/* Recorded as an attempt; the schedule stays as it is, so
		 * the policy's next step still comes. */
		if (p->state == PROMISE_CLOSED) {
			rc = STORE_CONFLICT;
			break;
		}
		n = count_unreachable(o->store, p->id) + 1;
		(void)snprintf(note, sizeof(note),
			       "customer unreachable (attempt "
			       "%d)", n);
		rc = store_note(o->store, p->id, actor, note, now, err,
				errlen);
		(void)snprintf(result, rlen, "unreachable:%d", n);
		break;
	default:
		break;
	}
	return rc;
}

static void
refuse(const struct action_opts *o, enum action_token_rc trc,
       const struct action_token *t, struct action_reply *out)
{
	const struct lang *l = lang_of(o, trc == ACTION_TOKEN_MALFORMED ?
				       NULL : t->recipient);
	const char *why = trc == ACTION_TOKEN_EXPIRED ? "expired" :
			  trc == ACTION_TOKEN_BAD_SIGNATURE ? "bad signature" :
			  "malformed";
	char actor[80], err[256];

	if (trc != ACTION_TOKEN_MALFORMED && o->store != NULL) {
		(void)snprintf(actor, sizeof(actor), "link:%s", t->recipient);
		store_note(o->store, t->promise_id, actor,
			   trc == ACTION_TOKEN_EXPIRED ?
			   "refused action link: expired" :
			   "refused action link: bad signature",
			   now_of(o), err, sizeof(err));
		log_warn("action: refused %s link for promise %" PRId64
			 " (recipient %s): %s", action_kind_name(t->action),
			 t->promise_id, t->recipient, why);
	} else {
		log_warn("action: refused a %s link", why);
	}
	page_simple(out, l, 403, "bad", trc == ACTION_TOKEN_EXPIRED ?
		    l->expired : l->refused, l->hint);
}

static int
page_post(const struct action_opts *o, const struct lang *l,
	  const struct action_token *t, const struct promise *p,
	  const char *to, int64_t now, struct action_reply *out)
{
	struct store_token row;
	char actor[80], err[256];
	int rc;

	memset(&row, 0, sizeof(row));
	(void)snprintf(actor, sizeof(actor), "link:%s", t->recipient);
	rc = act(o, t->action, p, to, 0, actor, now, row.result,
		 sizeof(row.result), err, sizeof(err));
	if (rc == STORE_INVALID && t->action == ACTION_HANDOVER) {
		page_confirm(out, o, l, t, p, now, l->choose);
		return 0;
	}
	if (rc == STORE_CONFLICT) {
		page_simple(out, l, 409, "note", l->conflict, err);
		return 0;
	}
	if (rc != STORE_OK) {
		log_err("action: %s on promise %" PRId64 ": %s",
			action_kind_name(t->action), p->id, err);
		page_simple(out, l, 500, "bad", l->error, "");
		return -1;
	}
	util_strlcpy(row.id, t->id, sizeof(row.id));
	row.promise_id = p->id;
	util_strlcpy(row.action, action_kind_name(t->action),
		     sizeof(row.action));
	util_strlcpy(row.recipient, t->recipient, sizeof(row.recipient));
	row.created_at = now;
	row.expires_at = t->expires_at;
	if (store_token_use(o->store, &row, now, err, sizeof(err)) != STORE_OK)
		log_warn("action: token %s: %s", t->id, err);
	log_info("action: %s on promise %" PRId64 " by %s (%s)",
		 action_kind_name(t->action), p->id, actor, row.result);
	page_result(out, o, l, p, row.result, 0);
	return 0;
}

int
action_page(const struct action_opts *o, const char *method,
	    const char *token, const char *to, struct action_reply *out)
{
	struct action_token t;
	struct store_token used;
	struct promise p;
	const struct lang *l;
	enum action_token_rc trc;
	int64_t now = now_of(o);
	int post = method != NULL && strcmp(method, "POST") == 0;
	int rc = 0;
	char err[256];

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	trc = action_token_check(o, token, now, &t);
	l = lang_of(o, trc == ACTION_TOKEN_MALFORMED ? NULL : t.recipient);
	if (!post && (method == NULL || strcmp(method, "GET") != 0)) {
		page_simple(out, l, 405, "bad", l->refused, "");
		goto out;
	}
	if (trc == ACTION_TOKEN_OK &&
	    store_get(o->store, t.promise_id, &p, err, sizeof(err)) != 0)
		trc = ACTION_TOKEN_BAD_SIGNATURE;
	/* A used link answers with what it did, even once it expired. */
	if ((trc == ACTION_TOKEN_OK || trc == ACTION_TOKEN_EXPIRED) &&
	    store_token_get(o->store, t.id, &used, err, sizeof(err)) ==
	    STORE_OK && used.used_at != 0 && (p.id != 0 ||
	    store_get(o->store, t.promise_id, &p, err, sizeof(err)) == 0)) {
		page_result(out, o, l, &p, used.result, used.used_at);
		goto out;
	}
	if (trc != ACTION_TOKEN_OK)
		refuse(o, trc, &t, out);
	else if (post)
		rc = page_post(o, l, &t, &p, to, now, out);
	else if (p.state == PROMISE_CLOSED)
		page_simple(out, l, 200, "note", l->conflict, p.title);
	else
		page_confirm(out, o, l, &t, &p, now, NULL);
out:
	promise_clear(&p);
	return rc;
}

void
action_reply_clear(struct action_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* ---- SMS replies ---------------------------------------------------- */

struct sms_word {
	const char *word;
	enum action_sms_verb verb;
	enum action_kind action;
	const char *lang;
};

/* Keywords of a command ("DONE 4821", "4821 klaar"), per language. */
static const struct sms_word sms_commands[] = {
	{ "done", ACTION_SMS_COMMAND, ACTION_DONE, "en" },
	{ "ok", ACTION_SMS_COMMAND, ACTION_ACK, "en" },
	{ "ack", ACTION_SMS_COMMAND, ACTION_ACK, "en" },
	{ "snooze", ACTION_SMS_COMMAND, ACTION_SNOOZE, "en" },
	{ "klaar", ACTION_SMS_COMMAND, ACTION_DONE, "nl" },
	{ "gedaan", ACTION_SMS_COMMAND, ACTION_DONE, "nl" },
	{ "ja", ACTION_SMS_COMMAND, ACTION_ACK, "nl" },
	{ "later", ACTION_SMS_COMMAND, ACTION_SNOOZE, "nl" },
	{ "fait", ACTION_SMS_COMMAND, ACTION_DONE, "fr" },
	{ "fini", ACTION_SMS_COMMAND, ACTION_DONE, "fr" },
	{ "oui", ACTION_SMS_COMMAND, ACTION_ACK, "fr" },
	{ "reporter", ACTION_SMS_COMMAND, ACTION_SNOOZE, "fr" },
};

/* Whole-message keywords the provider handles (Twilio's conventions):
 * never commands; opt-out and opt-in get no answer from us. */
static const struct sms_word sms_provider_words[] = {
	{ "stop", ACTION_SMS_OPTOUT, ACTION_DONE, "en" },
	{ "stopall", ACTION_SMS_OPTOUT, ACTION_DONE, "en" },
	{ "unsubscribe", ACTION_SMS_OPTOUT, ACTION_DONE, "en" },
	{ "cancel", ACTION_SMS_OPTOUT, ACTION_DONE, "en" },
	{ "end", ACTION_SMS_OPTOUT, ACTION_DONE, "en" },
	{ "quit", ACTION_SMS_OPTOUT, ACTION_DONE, "en" },
	{ "start", ACTION_SMS_OPTIN, ACTION_DONE, "en" },
	{ "unstop", ACTION_SMS_OPTIN, ACTION_DONE, "en" },
	{ "help", ACTION_SMS_HELP, ACTION_DONE, "en" },
	{ "info", ACTION_SMS_HELP, ACTION_DONE, "en" },
};

static const struct sms_word *
word_find(const struct sms_word *tab, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(tab[i].word, w) == 0)
			return &tab[i];
	}
	return NULL;
}

static int
parse_code(const char *w, int *code)
{
	int64_t v;

	if (strlen(w) != 4 || util_parse_int64(w, 1000, 9999, &v) != 0 ||
	    !isdigit((unsigned char)w[0]))
		return -1;
	*code = (int)v;
	return 0;
}

void
action_sms_parse(const char *text, struct action_sms_cmd *out)
{
	char copy[160], *w[4], *save = NULL, *s;
	const struct sms_word *kw;
	size_t n = 0;
	int kwi;

	memset(out, 0, sizeof(*out));
	out->verb = ACTION_SMS_HELP;
	out->lang = "en";
	if (text == NULL || util_strlcpy(copy, text, sizeof(copy)) != 0)
		return;
	for (s = copy; n < NELEM(w); s = NULL) {
		w[n] = strtok_r(s, " \t\r\n.,!", &save);
		if (w[n] == NULL)
			break;
		n++;
	}
	if (n == 1 && (kw = word_find(sms_provider_words,
				      NELEM(sms_provider_words), w[0]))) {
		out->verb = kw->verb;
		return;
	}
	if (n < 2 || n > 3)
		return;
	kwi = parse_code(w[0], &out->code) == 0 ? 1 : 0;
	if (kwi == 0 && parse_code(w[1], &out->code) != 0)
		return;
	kw = word_find(sms_commands, NELEM(sms_commands), w[kwi]);
	if (kw == NULL)
		return;
	/* Replies are case-insensitive, durations too: "SNOOZE 4821 1H". */
	for (s = n == 3 ? w[2] : NULL; s != NULL && *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
	if (n == 3 && (kw->action != ACTION_SNOOZE ||
		       util_parse_duration(w[2], &out->duration) != 0 ||
		       out->duration <= 0 ||
		       out->duration > INT64_C(30) * 86400))
		return;
	out->verb = ACTION_SMS_COMMAND;
	out->action = kw->action;
	out->lang = kw->lang;
}

static int
const_streq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

struct param_ix {
	const char *name, *value;
};

static int
param_cmp(const void *a, const void *b)
{
	const struct param_ix *pa = a, *pb = b;
	int c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

int
action_sms_twilio_valid(const char *auth_token, const char *url,
			const char *const *names, const char *const *values,
			size_t n, const char *sig)
{
	struct param_ix *ix;
	struct sbuf b = { 0 };
	unsigned char mac[20];
	unsigned int maclen = sizeof(mac);
	char want[32];
	size_t i;
	int ok;

	if (!nonempty(auth_token) || url == NULL || !nonempty(sig))
		return 0;
	ix = xcalloc(n > 0 ? n : 1, sizeof(*ix));
	for (i = 0; i < n; i++) {
		ix[i].name = names[i];
		ix[i].value = values[i];
	}
	qsort(ix, n, sizeof(*ix), param_cmp);
	sbuf_puts(&b, url);
	for (i = 0; i < n; i++) {
		sbuf_puts(&b, ix[i].name);
		sbuf_puts(&b, ix[i].value);
	}
	HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token),
	     (const unsigned char *)b.p, b.len, mac, &maclen);
	b64_encode(mac, sizeof(mac), 0, want);
	ok = const_streq(want, sig);
	free(ix);
	sbuf_free(&b);
	return ok;
}

int
action_sms_standard_valid(const char *secret, const char *id,
			  const char *timestamp, const char *sig,
			  const char *body, size_t len, int64_t now)
{
	unsigned char key[256], mac[MAC_LEN];
	unsigned int maclen = MAC_LEN;
	char want[64], *copy = NULL, *save = NULL, *e;
	struct sbuf b = { 0 };
	int64_t ts;
	long klen;
	int ok = 0;

	if (!nonempty(secret) || !nonempty(id) || !nonempty(sig) ||
	    util_parse_int64(timestamp, 0, INT64_MAX, &ts) != 0 ||
	    ts < now - WEBHOOK_TOLERANCE || ts > now + WEBHOOK_TOLERANCE)
		return 0;
	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	klen = b64_decode(secret, strlen(secret), 0, key, sizeof(key));
	if (klen <= 0)
		goto out;
	sbuf_printf(&b, "%s.%s.", id, timestamp);
	sbuf_add(&b, body != NULL ? body : "", body != NULL ? len : 0);
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)b.p, b.len,
	     mac, &maclen);
	b64_encode(mac, MAC_LEN, 0, want);
	copy = xstrdup(sig);
	for (e = strtok_r(copy, " ", &save); e != NULL && !ok;
	     e = strtok_r(NULL, " ", &save)) {
		if (strncmp(e, "v1,", 3) == 0 && const_streq(want, e + 3))
			ok = 1;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(copy);
	sbuf_free(&b);
	return ok;
}

/* E.164 without separators: "+32 470 10-01-00" and "0032470100100" both
 * become "+32470100100". */
static void
phone_norm(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (in == NULL)
		in = "";
	if (strncmp(in, "00", 2) == 0) {
		in += 2;
		if (outlen > 1)
			out[o++] = '+';
	}
	for (; *in != '\0' && o + 1 < outlen; in++) {
		if (isdigit((unsigned char)*in) || (*in == '+' && o == 0))
			out[o++] = *in;
	}
	out[o] = '\0';
}

static const struct cfg_staff *
staff_by_phone(const struct action_opts *o, const char *phone)
{
	char want[40], have[40];
	size_t i;

	phone_norm(phone, want, sizeof(want));
	if (o->cfg == NULL || strlen(want) < 4)
		return NULL;
	for (i = 0; i < o->cfg->nstaff; i++) {
		phone_norm(o->cfg->staff[i].phone, have, sizeof(have));
		if (strcmp(want, have) == 0)
			return &o->cfg->staff[i];
	}
	return NULL;
}

/* The answer in the provider's format; text NULL: no message. */
static void
sms_answer(const struct action_opts *o, const char *text,
	   struct action_reply *out)
{
	struct sbuf b = { 0 };
	json_t *j;

	out->status = 200;
	if (o->sms_provider == ACTION_SMS_TWILIO) {
		sbuf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<Response>");
		if (text != NULL) {
			sbuf_puts(&b, "<Message>");
			sbuf_html(&b, text);
			sbuf_puts(&b, "</Message>");
		}
		sbuf_puts(&b, "</Response>\n");
		out->content_type = "text/xml; charset=utf-8";
		out->body = b.p;
		out->len = b.len;
		return;
	}
	j = text != NULL ? json_pack("{s:s}", "reply", text) : json_object();
	out->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (out->body == NULL)
		out->body = xstrdup("{}");
	out->len = strlen(out->body);
	out->content_type = "application/json";
}

static int
sms_signed(const struct action_opts *o, const struct action_sms_in *in)
{
	char url[512];
	int fits;

	if (o->sms_provider == ACTION_SMS_STANDARD)
		return action_sms_standard_valid(o->sms_secret,
						 in->webhook_id,
						 in->webhook_timestamp,
						 in->webhook_signature,
						 in->body, in->len, now_of(o));
	if (in->url != NULL) {
		fits = util_strlcpy(url, in->url, sizeof(url)) == 0;
	} else if (o->sms_url != NULL) {
		fits = util_strlcpy(url, o->sms_url, sizeof(url)) == 0;
	} else {
		int n = snprintf(url, sizeof(url), "%s/hooks/sms",
				 o->public_url != NULL ? o->public_url : "");

		fits = n >= 0 && (size_t)n < sizeof(url);
	}
	/* A cut URL is not the one the provider signed. */
	if (!fits)
		return 0;
	return action_sms_twilio_valid(o->sms_secret, url, in->names,
				       in->values, in->nparams,
				       in->twilio_signature);
}

/* A field of the message: from a JSON body, else from the form. */
static char *
sms_field(const struct action_sms_in *in, json_t *body, const char *name)
{
	json_t *v;
	size_t i;

	if (body != NULL) {
		v = json_object_get(body, name);
		return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
	}
	for (i = 0; i < in->nparams; i++) {
		if (strcmp(in->names[i], name) == 0)
			return xstrdup(in->values[i]);
	}
	return NULL;
}

static void
sms_command(const struct action_opts *o, const struct cfg_staff *who,
	    const struct action_sms_cmd *cmd, struct sbuf *text)
{
	const struct lang *l = lang_by_code(who->locale);
	struct notification n;
	struct promise p;
	char actor[80], code[8], result[200], err[256];
	int64_t now = now_of(o);
	int rc;

	memset(&p, 0, sizeof(p));
	(void)snprintf(code, sizeof(code), "%d", cmd->code);
	rc = store_notification_by_code(o->store, who->id, cmd->code,
					now - ACTION_CODE_WINDOW, &n, err,
					sizeof(err));
	if (rc == STORE_OK)
		rc = store_get(o->store, n.promise_id, &p, err, sizeof(err));
	if (rc != STORE_OK) {
		buf_subst(text, l->sms_code, code, 0);
		goto out;
	}
	(void)snprintf(actor, sizeof(actor), "sms:%s", who->id);
	rc = act(o, cmd->action, &p, NULL, cmd->duration, actor, now, result,
		 sizeof(result), err, sizeof(err));
	sbuf_printf(text, "%s: ", code);
	if (rc == STORE_OK) {
		log_info("action: %s on promise %" PRId64 " by %s (%s)",
			 action_kind_name(cmd->action), p.id, actor, result);
		result_text(text, o, l, &p, result, 0);
	} else if (rc == STORE_CONFLICT) {
		sbuf_puts(text, l->conflict);
	} else {
		log_err("action: sms %s on promise %" PRId64 ": %s",
			action_kind_name(cmd->action), p.id, err);
		sbuf_puts(text, l->error);
	}
out:
	notification_clear(&n);
	promise_clear(&p);
}

int
action_sms(const struct action_opts *o, const struct action_sms_in *in,
	   struct action_reply *out)
{
	struct action_sms_cmd cmd;
	const struct cfg_staff *who;
	struct sbuf text = { 0 };
	json_t *json = NULL;
	char *from = NULL, *msg = NULL;

	memset(out, 0, sizeof(*out));
	if (!sms_signed(o, in)) {
		log_warn("action: SMS webhook without a valid signature");
		out->status = 403;
		out->content_type = "text/plain; charset=utf-8";
		out->body = xstrdup("forbidden\n");
		out->len = strlen(out->body);
		return 0;
	}
	if (in->content_type != NULL &&
	    util_startswith_ci(in->content_type, "application/json"))
		json = json_loadb(in->body != NULL ? in->body : "", in->len,
				  0, NULL);
	from = sms_field(in, json, o->sms_from_field != NULL ?
			 o->sms_from_field : "From");
	msg = sms_field(in, json, o->sms_text_field != NULL ?
			o->sms_text_field : "Body");
	action_sms_parse(msg, &cmd);
	who = staff_by_phone(o, from);
	if (cmd.verb == ACTION_SMS_OPTOUT || cmd.verb == ACTION_SMS_OPTIN)
		sms_answer(o, NULL, out);
	else if (who != NULL && cmd.verb == ACTION_SMS_COMMAND)
		sms_command(o, who, &cmd, &text);
	else
		sbuf_puts(&text, lang_by_code(who != NULL ? who->locale :
					     cmd.lang)->sms_help);
	if (out->body == NULL)
		sms_answer(o, text.p != NULL ? text.p : "", out);
	sbuf_free(&text);
	free(from);
	free(msg);
	json_decref(json);
	return 0;
}

/* ---- HTTP glue ------------------------------------------------------ */

static void
reply_to_http(struct action_reply *r, struct http_response *resp)
{
	http_resp_set(resp, r->status, r->content_type, r->body, r->len);
	if (r->page) {
		/* Mail scanners and proxies must not keep or pass on links. */
		http_resp_header(resp, "Cache-Control", "no-store");
		http_resp_header(resp, "Referrer-Policy", "no-referrer");
		http_resp_header(resp, "Content-Security-Policy",
				 "default-src 'none'; style-src "
				 "'unsafe-inline'; img-src data:; "
				 "form-action 'self'; frame-ancestors 'none'");
	}
	action_reply_clear(r);
}

static int
handle_page(void *ctx, const struct http_request *req,
	    struct http_response *resp)
{
	const struct action_opts *o = ctx;
	const char *path = http_req_path(req);
	const char *method = http_req_method(req);
	struct action_reply r;
	int rc;

	rc = action_page(o, method, path != NULL && strlen(path) > 3 ?
			 path + 3 : "", strcmp(method, "POST") == 0 ?
			 http_req_arg(req, "to") : NULL, &r);
	reply_to_http(&r, resp);
	return rc == 0 ? 0 : 1;
}

struct params {
	const char **names, **values;
	size_t n;
};

static void
collect(void *ctx, const char *name, const char *value)
{
	struct params *ps = ctx;

	ps->names = xreallocarray(ps->names, ps->n + 1, sizeof(char *));
	ps->values = xreallocarray(ps->values, ps->n + 1, sizeof(char *));
	ps->names[ps->n] = name;
	ps->values[ps->n] = value != NULL ? value : "";
	ps->n++;
}

static int
handle_sms(void *ctx, const struct http_request *req,
	   struct http_response *resp)
{
	const struct action_opts *o = ctx;
	struct action_sms_in in;
	struct action_reply r;
	struct params ps = { 0 };

	memset(&in, 0, sizeof(in));
	in.content_type = http_req_header(req, "Content-Type");
	in.body = http_req_body(req, &in.len);
	if (in.content_type == NULL ||
	    !util_startswith_ci(in.content_type, "application/json"))
		http_req_args(req, collect, &ps);
	in.names = ps.names;
	in.values = ps.values;
	in.nparams = ps.n;
	in.twilio_signature = http_req_header(req, "X-Twilio-Signature");
	in.webhook_id = http_req_header(req, "webhook-id");
	in.webhook_timestamp = http_req_header(req, "webhook-timestamp");
	in.webhook_signature = http_req_header(req, "webhook-signature");
	action_sms(o, &in, &r);
	reply_to_http(&r, resp);
	free(ps.names);
	free(ps.values);
	return 0;
}

int
action_register(struct http_server *srv, const struct action_opts *o,
		char *err, size_t errlen)
{
	if (http_route(srv, "GET", "/a/*", handle_page, (void *)o) != 0 ||
	    http_route(srv, "POST", "/a/*", handle_page, (void *)o) != 0 ||
	    http_route(srv, "POST", "/hooks/sms", handle_sms,
			(void *)o) != 0) {
		util_seterr(err, errlen, "cannot add the action routes");
		return -1;
	}
	return 0;
}
