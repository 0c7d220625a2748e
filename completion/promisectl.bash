# bash completion for promisectl(1).
#
# Installed as share/bash-completion/completions/promisectl, where the
# bash-completion package loads it on demand; it can also be sourced on
# its own (it needs nothing from bash-completion).
#
# Staff ids, channel and feed names come from the config and promise ids
# from the database, through the hidden `promisectl complete WHAT`; a
# --config or --db given earlier on the line is passed on, so the words
# match the file the command will use.

# Options of each command; options that take a value are listed in
# _promisectl_takes_value below.
_promisectl_cmd_opts() {
	case $1 in
	add) echo "--title --owner --due --target --team --site --policy
		--customer --phone --email --vehicle --vin --details
		--title-file --details-file --ref --force --json --help" ;;
	list) echo "--open --all --overdue --due-today --owner --team --site
		--json --help" ;;
	show | ack) echo "--json --help" ;;
	done) echo "--outcome --note --json --help" ;;
	snooze) echo "--until --for --json --help" ;;
	reassign) echo "--to --team --json --help" ;;
	renegotiate) echo "--due --reason --force --json --help" ;;
	reopen) echo "--reason --json --help" ;;
	outbox) echo "--state --promise --limit --json --help" ;;
	test-channel) echo "--to --help" ;;
	report) echo "--from --to --by --format --json --help" ;;
	feeds) echo "--json --help" ;;
	import) echo "--feed --json --help" ;;
	sync) echo "--here --full --json --help" ;;
	backup) echo "--json --help" ;;
	*) echo "--help" ;;
	esac
}

_promisectl_takes_value() {
	case $1 in
	--config | --db | --title | --owner | --due | --target | --team | \
		--site | --policy | --customer | --phone | --email | \
		--vehicle | --vin | --details | --title-file | --details-file | \
		--ref | --outcome | --note | --until | --for | --to | --reason | \
		--state | --promise | --limit | --from | --by | --format | --feed)
		return 0 ;;
	esac
	return 1
}

# Sets COMPREPLY to the words of $2 that start with $1, one per line
# (ids and names hold no blanks).
_promisectl_reply() {
	local w
	COMPREPLY=()
	while IFS= read -r w; do
		[[ -n $w && $w == "$1"* ]] && COMPREPLY+=("$w")
	done <<<"$2"
}

# A value typed on the line, with one level of quotes and a leading ~/
# undone the way the shell would.
_promisectl_unquote() {
	local v=$1
	if [[ $v == \'*\' || $v == \"*\" ]]; then
		v=${v:1:${#v}-2}
	fi
	[[ $v == \~/* ]] && v=$HOME/${v:2}
	printf '%s' "$v"
}

# The word list $1 from `promisectl complete`; prog and gopts are those
# of the calling _promisectl (bash scopes locals dynamically).
_promisectl_words() {
	"$prog" "${gopts[@]}" complete "$1" 2>/dev/null
}

# Completes file names.
_promisectl_files() {
	mapfile -t COMPREPLY < <(compgen -f -- "$1")
	compopt -o filenames 2>/dev/null
}

_promisectl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev='' prog=${COMP_WORDS[0]}
	local -a gopts=()
	local cmd='' cmdidx=0 i w v
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	[[ $prog == \~/* ]] && prog=$HOME/${prog:2}

	# The global options before the command, and the command itself.
	# "--config=FILE" arrives as three words when '=' breaks words.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			case $w in
			--config | --db)
				v=${COMP_WORDS[i + 1]}
				if [[ $v == "=" ]]; then
					((i++))
					v=${COMP_WORDS[i + 1]}
				fi
				((i + 1 < COMP_CWORD)) &&
					gopts+=("$w" "$(_promisectl_unquote "$v")")
				((i++))
				continue ;;
			--config=* | --db=*)
				gopts+=("${w%%=*}" "$(_promisectl_unquote "${w#*=}")")
				continue ;;
			-*) continue ;;
			*) cmd=$w; cmdidx=$i ;;
			esac
		fi
	done

	local words
	# Values of options (also "--opt=value" split at '=').
	local opt=$prev
	if [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
	fi
	case $opt in
	--config | --db | --title-file | --details-file)
		_promisectl_files "$cur"
		return 0 ;;
	--owner | --to)
		# report --to is a date, not a person.
		[[ $cmd == report ]] && { COMPREPLY=(); return 0; }
		_promisectl_reply "$cur" "$(_promisectl_words staff)"
		return 0 ;;
	--promise)
		_promisectl_reply "$cur" "$(_promisectl_words promises)"
		return 0 ;;
	--feed)
		_promisectl_reply "$cur" "$(_promisectl_words feeds)"
		return 0 ;;
	--outcome)
		_promisectl_reply "$cur" $'kept\ncancelled'
		return 0 ;;
	--state)
		_promisectl_reply "$cur" $'pending\nsending\nsent\nretry\ndead'
		return 0 ;;
	--by)
		_promisectl_reply "$cur" $'owner\nteam\nsite'
		return 0 ;;
	--format)
		_promisectl_reply "$cur" $'table\ncsv\njson'
		return 0 ;;
	esac
	if _promisectl_takes_value "$opt"; then
		COMPREPLY=()
		return 0
	fi

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_promisectl_reply "$cur" \
				$'--config\n--db\n--json\n--no-color\n--help\n--version'
		else
			words=$(_promisectl_words commands)
			# An older promisectl without `complete`: the known set.
			[[ -z $words ]] && words=$'add\nlist\nshow\ndone\nack\nsnooze\nreassign\nrenegotiate\nreopen\noutbox\ntest-channel\nreport\nfeeds\nimport\nsync\ncheck-config\nbackup'
			_promisectl_reply "$cur" "$words"
		fi
		return 0
	fi

	if [[ $cur == -* ]]; then
		_promisectl_reply "$cur" "$(_promisectl_cmd_opts "$cmd" | tr -s '[:space:]' '\n')"
		return 0
	fi

	# The operands: count those already typed after the command.
	local nops=0
	for ((i = cmdidx + 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -* ]]; then
			if [[ $w != *=* ]] && _promisectl_takes_value "$w"; then
				((i++))
				[[ ${COMP_WORDS[i]} == "=" ]] && ((i++))
			fi
			continue
		fi
		((nops++))
	done
	case $cmd in
	show | done | ack | snooze | reassign | renegotiate | reopen)
		if ((nops == 0)); then
			_promisectl_reply "$cur" "$(_promisectl_words promises)"
		else
			COMPREPLY=()
		fi ;;
	test-channel)
		if ((nops == 0)); then
			_promisectl_reply "$cur" "$(_promisectl_words channels)"
		else
			COMPREPLY=()
		fi ;;
	sync)
		if ((nops == 0)); then
			_promisectl_reply "$cur" "$(_promisectl_words feeds)"
		else
			COMPREPLY=()
		fi ;;
	outbox)
		if ((nops == 0)); then
			_promisectl_reply "$cur" "retry"
		else
			COMPREPLY=()
		fi ;;
	import | check-config | backup)
		_promisectl_files "$cur" ;;
	*)
		COMPREPLY=() ;;
	esac
	return 0
}

complete -F _promisectl promisectl
