#!/usr/bin/env bash
# make docs-check: the README's first code block holds exactly the two newcomer commands,
# the README names every Makefile target and every route the handlers document, the names
# the docs use exist in the code and the reverse (scripts/doc-names.py),
# docs/ARCHITECTURE.md names every crate, and the repository stands on its own: no tracked
# file points outside it (see check_self_contained below).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
fail=0
first_block=$(awk '/^```/{n++; next} n==1' README.md)
if [[ "$first_block" != $'make demo\nmake test' ]]; then
  echo "README: the first code block must be exactly 'make demo' and 'make test', found:"; echo "$first_block"; fail=1
fi
for target in $(grep -oE '^[a-z-]+:.*## ' Makefile | cut -d: -f1); do
  grep -q "make $target" README.md || { echo "README does not mention 'make $target'"; fail=1; }
done
# Each handler's #[utoipa::path(method, path = "...")] is a route.
while read -r method path; do
  # `{name}` path parameters are written `:name` in the README.
  readme_form="$(sed -E 's/\{([a-z_]+)\}/:\1/g' <<<"${method^^} $path")"
  grep -qF "\`$readme_form\`" README.md || { echo "README does not document the route $readme_form"; fail=1; }
done < <(grep -ohE 'utoipa::path\((get|post|put|patch|delete), path = "[^"]+"' crates/server/src/routes/*.rs \
           | sed -E 's/utoipa::path\(([a-z]+), path = "([^"]+)"/\1 \2/')
for crate in crates/*/; do
  name="$(basename "$crate")"
  grep -q "crates/$name" docs/ARCHITECTURE.md || { echo "docs/ARCHITECTURE.md does not describe crates/$name"; fail=1; }
done

# A clone of the repository must build, test and read well without anything beside it. Every
# tracked text file (`git ls-files`, so staged files count too) is checked for:
#  1. a path into the sibling reference folder (two dots, slash, "shared"; or that folder's
#     fixture directory) or a mention of the design, stack or style notes kept outside the
#     repository (their file names, or a section sign with a number), which a reader cannot
#     open;
#  2. a relative path that climbs above the repository root. Paths are resolved from the
#     file's directory, except in a crate's Rust files, where they are resolved from the crate
#     directory (what `env!("CARGO_MANIFEST_DIR")` and `sqlx::migrate!` use) unless the line is
#     an `include_str!`/`include_bytes!`/`include!`/`#[path]`, which are file-relative (and in
#     other files a line naming CARGO_MANIFEST_DIR is read as crate-relative too);
#  3. a relative Markdown link (in .md files) whose target is not in the tree, or whose
#     `#anchor` names no heading of the target;
#  4. a citation `docs/<file>.md[#anchor]` (in any file) of a missing file or heading.
# The patterns below are written so this script does not match itself.
check_self_contained() {
  git ls-files -z | perl -0 -e '
    use strict; use warnings;
    my @files = map { chomp; $_ } <STDIN>;
    $/ = "\n";
    my %tracked = map { $_ => 1 } @files;
    my %dirs;
    for my $f (@files) { my @p = split m{/}, $f; pop @p; while (@p) { $dirs{join "/", @p} = 1; pop @p } }
    my $bad = 0;
    sub report { my ($file, $line, $msg) = @_; print "$file:$line: $msg\n"; $bad = 1 }

    # Resolves $rel against directory $base (both relative to the root); undef when it climbs
    # above the root.
    sub resolve {
      my ($base, $rel) = @_;
      my @out = $rel =~ m{^/} ? () : grep { length } split m{/}, $base;
      for my $seg (split m{/}, $rel) {
        next if $seg eq "" || $seg eq ".";
        if ($seg eq "..") { return undef unless @out; pop @out } else { push @out, $seg }
      }
      return join "/", @out;
    }
    my %slug_cache;
    sub slugs {
      my ($file) = @_;
      return $slug_cache{$file} if $slug_cache{$file};
      my %s; my %seen; my $fence = 0;
      open my $fh, "<:encoding(UTF-8)", $file or return $slug_cache{$file} = {};
      while (my $l = <$fh>) {
        if ($l =~ /^\s*(```|~~~)/) { $fence = !$fence; next }
        next if $fence;
        next unless $l =~ /^#{1,6}\s+(.*?)\s*#*\s*$/;
        my $t = lc $1;
        $t =~ s/[^\w\- ]//g;
        $t =~ s/ /-/g;
        my $slug = $seen{$t}++ ? "$t-" . ($seen{$t} - 1) : $t;
        $s{$slug} = 1;
      }
      return $slug_cache{$file} = \%s;
    }
    sub target_ok {
      my ($file, $line, $path, $anchor, $what) = @_;
      if (!defined $path) { report($file, $line, "$what climbs above the repository root"); return }
      my $t = $path eq "" ? "" : $path;
      if ($t ne "" && !$tracked{$t} && !$dirs{$t}) { report($file, $line, "$what: $t is not in the repository"); return }
      if (defined $anchor && length $anchor && $t =~ /\.md$/ && $tracked{$t} && !slugs($t)->{lc $anchor}) {
        report($file, $line, "$what: $t has no heading for #$anchor");
      }
    }

    # The last alternative is a bare section number (section sign, digits): the only such
    # sections are those of the design document kept outside the repository.
    my $outside = qr{\.\./shared|shared\/fixture[s]|(?:DESIGN|STACK|STYLE)\.md|DESIGN\s*\xC2\xA7|\xC2\xA7\s*\d};
    for my $file (@files) {
      next if -l $file || !-f $file || -B $file;
      open my $fh, "<", $file or next;
      my @dir = split m{/}, $file; pop @dir;
      my $dir = join "/", @dir;
      my $crate = $file =~ m{^(crates/[^/]+)/} && ($file =~ /\.rs$/ || $file =~ m{/Cargo\.toml$}) ? $1 : undef;
      my $md = $file =~ /\.md$/;
      my $fence = 0;
      while (my $l = <$fh>) {
        my $n = $.;
        while ($l =~ /$outside/g) { report($file, $n, "points outside the repository: $&") }
        # 2. relative paths climbing above the root
        my $base = (defined $crate && $l !~ /include_str!|include_bytes!|include!|#\[path/) ? $crate : $dir;
        # Outside the crates (docs quoting test code), a path next to CARGO_MANIFEST_DIR is
        # still relative to some crate directory, two levels below the root.
        $base = "crates/any-crate" if !defined $crate && $l =~ /CARGO_MANIFEST_DIR/;
        while ($l =~ m{(?<![\w.~+\-/])((?:\./|/)?\.\.(?:/[\w.~+\-]*)+|/\.\.(?![\w.]))}g) {
          my $tok = $1;
          next if $tok =~ m{^//};
          # A leading slash joins the path to a directory expression (`CARGO_MANIFEST_DIR`,
          # `$(dirname "$0")`): it is still relative to the base.
          (my $rel = $tok) =~ s{^/}{};
          report($file, $n, "relative path $tok climbs above the repository root") unless defined resolve($base, $rel);
        }
        # 4. citations of docs/*.md
        while ($l =~ m{(?<![\w./\-"\x27])(?<!\]\()(docs/[\w.\-/]+\.md)(?:#([\w\-]+))?}g) {
          target_ok($file, $n, $1, $2, "citation $1" . (defined $2 ? "#$2" : ""));
        }
        next unless $md;
        if ($l =~ /^\s*(```|~~~)/) { $fence = !$fence; next }
        next if $fence;
        # 3. Markdown links: inline [text](target "title") and reference definitions [x]: target
        my @targets;
        push @targets, $1 while $l =~ /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
        push @targets, $1 if $l =~ /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/;
        for my $target (@targets) {
          next if $target =~ m{^[a-zA-Z][a-zA-Z0-9+.\-]*:};
          my ($path, $anchor) = split /#/, $target, 2;
          if ($path eq "") { target_ok($file, $n, $file, $anchor, "link #$anchor"); next }
          target_ok($file, $n, resolve($dir, $path), $anchor, "link $target");
        }
      }
      close $fh;
    }
    exit $bad;
  '
}
if ! check_self_contained; then
  echo "the repository must stand on its own: fix the references above (put what tests need in testdata/, cite docs/)"
  fail=1
fi

# The names the docs use exist in the code and the reverse: Makefile targets, environment
# variables, routes and console keys (scripts/doc-names.py says how). The console's bindings
# come from the real binary.
build_workspace >/dev/null || exit 1
keys_json="$(mktemp)"
trap 'rm -f "$keys_json"' EXIT
"$CARGO_TARGET_DIR/debug/statesight-tui" keys --defaults -o json >"$keys_json" || { echo "statesight-tui keys failed"; exit 1; }
python3 "$ROOT/scripts/doc-names.py" "$keys_json" || fail=1

[[ $fail -eq 0 ]] && echo "docs-check: the docs name every target, variable, route and key the code has, and nothing else; nothing points outside the repository"
exit $fail
