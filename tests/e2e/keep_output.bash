# Shared by cli_common.bash and daemon_common.bash (sourced, not run on its
# own): keeps what the programs of an end-to-end test printed under
# $PROMISED_BUILD_DIR/test-output/<test>/, appended, so that it outlives the
# scratch folder; tests/check/secrets.sh searches it for the test secrets.
#
#   logs/      what counts as log and output: the daemon's log (stderr with
#              <N> prefixes) and sd_notify messages, promisectl's stdout and
#              stderr, the peers' own stdout/stderr and logs, the daemon's
#              HTTP answers (headers, bodies, pages), other *.out/*.err
#   received/  the product: what the peers received (the SMTP server's and
#              HTTP receiver's request logs, the SMTP server's Maildir) and
#              the messages of the daemon's own Maildir channel
#
# Only files with these names are copied, never the secret files, keys,
# configs or databases next to them in the scratch folder.

KEEP_DIR="$PROMISED_BUILD_DIR/test-output/$(basename "$0" .sh)"
mkdir -p "$KEEP_DIR/logs" "$KEEP_DIR/received"
# Bigger files are kept by their last bytes only: a fault test may write a
# huge log, and the tail is where a leak at the end would be.
KEEP_MAX_BYTES=$((8 * 1024 * 1024))

# keep_append DEST [FILE...]: appends the files (stdin without any) to
# $KEEP_DIR/DEST after a line saying what they are ($KEEP_WHAT); several
# files get tail's "==> name <==" lines.  No extra process but tail,
# since promisectl may run a thousand times in parallel.
keep_append() {
	local dest=$KEEP_DIR/$1
	shift
	{
		printf '=== %(%H:%M:%S)T %s\n' -1 "${KEEP_WHAT:-}"
		if [ $# -eq 0 ]; then
			cat
		else
			tail -c "$KEEP_MAX_BYTES" "$@"
		fi
	} >>"$dest" 2>/dev/null || true
}

# keep_kind REL: sets KIND to "logs", "received" or "" (not kept) for a
# file of the scratch folder, by its path relative to it.
keep_kind() {
	case $1 in
	*/new/* | */cur/*) KIND=received ;; # a Maildir message
	promised.log | notify.log | */log) KIND=logs ;;
	*.log) KIND=received ;; # a peer's record of what it received
	*.out | *.err | *.hdr | *.body | *.html | out | err | table | json | csv)
		KIND=logs ;;
	*) KIND= ;;
	esac
}

# keep_collect DIR: copies the files of the scratch folder DIR that are
# logs, output or received data (keep_kind) into $KEEP_DIR, each appended
# to a file named after its path, the messages of a Maildir to one file
# per Maildir folder.  Called by cleanup_common before DIR is removed;
# never fails the test.
keep_collect() {
	local dir=$1 f rel KIND folder
	local -A maildirs=()
	[ -d "$dir" ] || return 0
	while IFS= read -r -d '' f; do
		rel=${f#"$dir"/}
		keep_kind "$rel"
		[ -n "$KIND" ] || continue
		case $rel in
		*/new/* | */cur/*) maildirs[${rel%/*}]=1 ;;
		*) KEEP_WHAT="$rel" keep_append "$KIND/${rel//\//_}" "$f" ;;
		esac
	done < <(find "$dir" -type f -print0 2>/dev/null)
	for folder in "${!maildirs[@]}"; do
		KEEP_WHAT="$folder" keep_append "received/${folder//\//_}" \
			"$dir/$folder"/*
	done
	return 0
}
