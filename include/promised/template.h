/*
 * template: the texts of notifications.  A template is plain text with
 * `{{name}}` (substitute a variable) and `{{#name}}...{{/name}}` (keep the
 * inner part only when the variable is non-empty); there is no other
 * logic.  Every name must come from the fixed table below, so a typo is a
 * config error with file:line:column when the templates are loaded or
 * checked, never an empty string at render time.  Values are escaped for
 * the output they land in (text, HTML, JSON, a header, a form body).
 *
 * A template set holds, per locale (en, nl, fr) and kind (reminder,
 * last_call, lapse, escalation), four parts read from
 * <dir>/<locale>/<kind>.{subject,txt,html,sms}; a file of the same name
 * in the override folder replaces the shipped one.  A locale that lacks a
 * file uses the English one, and every English file must exist.
 *
 * The HTML part is wrapped in <dir>/<locale>/layout.html (optional,
 * overridable the same way; a locale without one uses English's): the
 * kind's rendered HTML goes, unescaped, where the layout's one
 * `{{content}}` stands, and the layout's own values are escaped for
 * HTML, with `subject` the rendered subject when the caller has not set
 * it.  `content` is reserved: valid only in a layout, exactly once,
 * outside sections.  A kind's HTML that is a whole document (starts
 * with <!DOCTYPE or <html) is sent as it is.
 *
 * Pure: no clock; files are read only by template_set_load and
 * template_set_check.  See docs/templates.md.
 */
#ifndef PROMISED_TEMPLATE_H
#define PROMISED_TEMPLATE_H

#include <stddef.h>

/* The known variables.  Values are UTF-8; NULL counts as empty.
 *   title            what was promised ("Call back about the quote")
 *   details          free text given with the promise
 *   customer_name    the customer ("Jan Peeters")
 *   customer_phone   as people read it ("+32 470 12 34 56")
 *   customer_tel_uri as a phone dials it ("tel:+32470123456")
 *   customer_email   the customer's address
 *   vehicle          make, model, plate ("VW Golf 1-ABC-123")
 *   vin              vehicle identification number
 *   due_local        due in the site's time ("Fri 4 Dec 17:00")
 *   due_relative     until or since due, localized ("in 2 h", "3 h late")
 *   owner_name       who made the promise
 *   owner_id         their staff id
 *   recipient_name   who this message goes to
 *   site             the site's id or name
 *   promise_id       the promise's number
 *   ref              the caller's own reference (ticket, RO number)
 *   step             the policy step that fired
 *   kind             reminder | last_call | lapse | escalation
 *   late_note        set when a message is sent late (daemon was down)
 *   history          the last few timeline events, one per line
 *   short_code       the code an SMS reply quotes
 *   link_done, link_ack, link_snooze   one-click action links (may be empty)
 *   recipient_phone  the recipient's phone, E.164 ("+32470123456")
 *   recipient_email  the recipient's email address
 *   text             the rendered SMS text (for webhook bodies)
 *   subject          the rendered email subject (for webhook bodies)
 *   idem_key         the notification's idempotency key
 *   due_iso          due in UTC, ISO 8601 ("2026-12-04T16:00:00Z")
 */
enum template_var {
	TEMPLATE_VAR_TITLE,
	TEMPLATE_VAR_DETAILS,
	TEMPLATE_VAR_CUSTOMER_NAME,
	TEMPLATE_VAR_CUSTOMER_PHONE,
	TEMPLATE_VAR_CUSTOMER_TEL_URI,
	TEMPLATE_VAR_CUSTOMER_EMAIL,
	TEMPLATE_VAR_VEHICLE,
	TEMPLATE_VAR_VIN,
	TEMPLATE_VAR_DUE_LOCAL,
	TEMPLATE_VAR_DUE_RELATIVE,
	TEMPLATE_VAR_OWNER_NAME,
	TEMPLATE_VAR_OWNER_ID,
	TEMPLATE_VAR_RECIPIENT_NAME,
	TEMPLATE_VAR_SITE,
	TEMPLATE_VAR_PROMISE_ID,
	TEMPLATE_VAR_REF,
	TEMPLATE_VAR_STEP,
	TEMPLATE_VAR_KIND,
	TEMPLATE_VAR_LATE_NOTE,
	TEMPLATE_VAR_HISTORY,
	TEMPLATE_VAR_SHORT_CODE,
	TEMPLATE_VAR_LINK_DONE,
	TEMPLATE_VAR_LINK_ACK,
	TEMPLATE_VAR_LINK_SNOOZE,
	TEMPLATE_VAR_RECIPIENT_PHONE,
	TEMPLATE_VAR_RECIPIENT_EMAIL,
	TEMPLATE_VAR_TEXT,
	TEMPLATE_VAR_SUBJECT,
	TEMPLATE_VAR_IDEM_KEY,
	TEMPLATE_VAR_DUE_ISO,
	TEMPLATE_VAR_COUNT
};

/* The values of one message, indexed by enum template_var; borrowed. */
struct template_vars {
	const char *v[TEMPLATE_VAR_COUNT];
};

/* How a substituted value is escaped. */
enum template_escape {
	TEMPLATE_TEXT,    /* as is */
	TEMPLATE_HTML,    /* & < > " ' as entities */
	TEMPLATE_JSON,    /* contents of a JSON string (RFC 8259) */
	TEMPLATE_HEADER,  /* every control character (CR, LF ...) a space */
	TEMPLATE_FORM     /* application/x-www-form-urlencoded */
};

/* The parts of a message; each has its escaping (subject: HEADER, txt and
 * sms: TEXT, html: HTML). */
enum template_part {
	TEMPLATE_PART_SUBJECT,
	TEMPLATE_PART_TXT,
	TEMPLATE_PART_HTML,
	TEMPLATE_PART_SMS,
	TEMPLATE_PART_COUNT
};

struct template;        /* one parsed template */
struct template_set;    /* every locale, kind and part */

/* The name of variable v ("customer_name"), or NULL when out of range. */
const char *template_var_name(enum template_var v);

/* The variable called name, or -1 when there is none. */
int template_var_lookup(const char *name);

/* Sets the variable called name to value (borrowed); 0, or -1 when the
 * name is unknown. */
int template_vars_set(struct template_vars *vars, const char *name,
		      const char *value);

/* Parses src (a NUL-terminated string) named `name` in messages.  Returns
 * an owned template, or NULL with every error ("name:line:col: ...", one
 * per line) in err. */
struct template *template_parse(const char *src, const char *name,
				char *err, size_t errlen);

/* Frees t (NULL is fine). */
void template_free(struct template *t);

/* 1 when t substitutes or tests var, else 0: a caller leaves out a value
 * that costs something to compute (the history reads the timeline). */
int template_uses(const struct template *t, enum template_var var);

/* Renders t with vars, escaping values as esc, into *out (owned).  Bytes
 * of a value that are not UTF-8 become U+FFFD.  0, or -1 with err. */
int template_expand(const struct template *t, enum template_escape esc,
		    const struct template_vars *vars, char **out,
		    char *err, size_t errlen);

/* Returns an owned copy of s escaped as esc. */
char *template_escape_new(enum template_escape esc, const char *s);

/* Loads every template under dir with the files of override_dir (NULL
 * for none) taking precedence.  Returns an owned set, or NULL with the
 * first error (file:line:column) in err. */
struct template_set *template_set_load(const char *dir,
				       const char *override_dir,
				       char *err, size_t errlen);

/* Checks the templates as template_set_load would load them; returns the
 * number of errors and, when report is not NULL, every error one per line
 * in *report (owned; NULL when there are none). */
int template_set_check(const char *dir, const char *override_dir,
		       char **report);

/* Frees set (NULL is fine). */
void template_set_free(struct template_set *set);

/* 1 when any locale's and kind's template of part (the HTML part with
 * its layouts) uses var. */
int template_set_uses(const struct template_set *set, enum template_part part,
		      enum template_var var);

/* 1 when kind names a known kind ("reminder" ...), else 0. */
int template_kind_known(const char *kind);

/* Renders one part of the message of `kind` for `locale` ("nl", "nl_BE",
 * "nl-BE" all mean nl), falling back to English when the locale or its
 * file is missing; the HTML part comes out inside its layout.  Subjects
 * and SMS come out on one line with surrounding white space trimmed.  0
 * with *out owned, or -1 with err. */
int template_render(const struct template_set *set, const char *locale,
		    const char *kind, enum template_part part,
		    const struct template_vars *vars, char **out,
		    char *err, size_t errlen);

#endif
