#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test of dovesd's config dialect against doveconf (Dovecot 2.3).

Usage: run.py GENERATOR [CASE...]      compare dovesd-generator with doveconf, print TAP
       run.py --doveconf-only [CASE...] check only the corpus against doveconf (no dovesd)

CASE is a path like valid/NAME.conf (relative to this directory); default: every
valid/*.conf, invalid/*.conf and dovesd-only-invalid/*.conf.

doveconf runs at test time for every case; nothing it prints is stored. Header comment lines
of the form "# diff: KEYWORD ARGS" steer a case (see README).
"""

import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOVECONF = os.environ.get("DOVECONF", "doveconf")
BUILTINS = os.path.realpath(os.path.join(HERE, "..", "..", "examples",
                                         "dovecot-2.3-services.conf"))
TIMEOUT = 20


def run(argv, env, cwd=HERE):
        try:
                p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
                return 124, "", "timed out after %d s" % TIMEOUT
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))


def directives(path):
        """Collect '# diff: KEY VALUE' lines from the leading comment block."""
        d = {"env": {}, "doveconf-args": [], "error": None, "dovesd": None, "note": None,
             "path": "relative"}
        with open(os.path.join(HERE, path), encoding="utf-8", errors="replace") as f:
                for line in f:
                        s = line.rstrip("\r\n")
                        if not s.lstrip().startswith("#"):
                                break
                        m = re.match(r"\s*#\s*diff:\s*(\S+)\s?(.*)$", s)
                        if not m:
                                continue
                        key, val = m.group(1), m.group(2)
                        if key == "env":
                                name, _, value = val.partition("=")
                                d["env"][name] = value
                        elif key == "doveconf-args":
                                d["doveconf-args"] += val.split()
                        elif key in ("error", "dovesd", "note"):
                                d[key] = val.replace("{DIR}", HERE)
                        elif key == "path" and val in ("relative", "absolute", "bare"):
                                d[key] = val
                        else:
                                raise ValueError("%s: unknown directive '%s'" % (path, key))
        return d


def expand_braces(pattern):
        m = re.search(r"\{([^{}]*)\}", pattern)
        if not m:
                return [pattern]
        out = []
        for alt in m.group(1).split(","):
                out += expand_braces(pattern[:m.start()] + alt + pattern[m.end():])
        return out


def logical_lines(text):
        buf = ""
        for line in text.split("\n"):
                line = line.rstrip(" \t")
                if line.endswith("\\"):
                        buf += line[:-1].rstrip(" \t") + " "
                        continue
                yield buf + line
                buf = ""
        if buf:
                yield buf


def declared_services(path, seen=None):
        """Service names a config declares, following !include like doveconf does.

        Returns (names, files) where files is the set of real paths read. This is a small
        scanner for this corpus (section lines and includes only), not a config parser."""
        if seen is None:
                seen = set()
        names, files = [], set()
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(path):
                return names, files
        seen = seen | {real}
        files.add(real)
        try:
                text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
                return names, files
        base = os.path.dirname(path)
        for line in logical_lines(text):
                s = line.strip()
                m = re.match(r"!include(?:_try)?\s+(.*)$", s)
                if m:
                        pat = m.group(1).strip()
                        if len(pat) > 1 and pat[0] == pat[-1] and pat[0] in "\"'":
                                pat = pat[1:-1]
                        if not pat.startswith("/"):
                                pat = os.path.join(base, pat)
                        for alt in expand_braces(pat):
                                for inc in sorted(glob.glob(alt)):
                                        n, fl = declared_services(inc, seen)
                                        names += n
                                        files |= fl
                        continue
                m = re.match(r'service\s+(?:"([^"]*)"|(\S+))\s*\{', s)
                if m:
                        names.append(m.group(1) if m.group(1) is not None else m.group(2))
        return names, files


def service_sections(text):
        """Split doveconf -a output into (name, section text) in output order."""
        out = []
        lines = text.split("\n")
        i = 0
        while i < len(lines):
                m = re.match(r'^service (?:"(.*)"|(.*)) \{$|^service \{$', lines[i])
                if m:
                        name = m.group(1) if m.group(1) is not None else (m.group(2) or "")
                        if m.group(1) is not None:
                                name = re.sub(r"\\(.)", r"\1", name)
                        j = i
                        while j < len(lines) and lines[j] != "}":
                                j += 1
                        out.append((name, "\n".join(lines[i:j + 1]) + "\n"))
                        i = j + 1
                        continue
                i += 1
        return out


def doveconf_fatal(stderr):
        """The message doveconf failed with: (file, line or None, message) or None."""
        for line in stderr.splitlines():
                m = re.match(r"^doveconf: Fatal: Error in configuration file (.*?) line (\d+): (.*)$",
                             line)
                if m:
                        return m.group(1), int(m.group(2)), m.group(3)
                m = re.match(r"^doveconf: Fatal: Error in configuration file (.*?): (.*)$", line)
                if m:
                        return m.group(1), None, m.group(2)
        for line in stderr.splitlines():
                m = re.match(r"^doveconf: Fatal: (.*)$", line)
                if m:
                        return None, None, m.group(1)
        return None


def expected_warnings(stderr):
        """Regexes for the dovesd warning lines that doveconf's warnings call for.

        Only the parser's ambiguous-# warning (with file and line) and the unix_listener
        base_dir prefix warning are compared; doveconf's other warnings concern settings
        dovesd ignores (filters, anvil sizing)."""
        out = []
        for line in stderr.splitlines():
                m = re.match(r"^doveconf: Warning: Configuration file (.*) line (\d+): (.*)$", line)
                if m:
                        out.append(re.escape("%s:%s: warning: %s" % m.groups()) + "$")
                        continue
                m = re.match(r"^doveconf: Warning: (You should remove base_dir prefix .*)$", line)
                if m:
                        out.append(r".+:\d+: warning: " + re.escape(m.group(1)) + "$")
        return sorted(set(out))


def fmt_fatal(f):
        file, line, msg = f
        if line is None:
                return "%s: %s" % (file, msg)
        return "%s line %d: %s" % (file, line, msg)


def unified(expected, actual, limit=40):
        import difflib
        d = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                      "doveconf", "dovesd", lineterm="", n=1))
        if len(d) > limit:
                d = d[:limit] + ["... (%d more diff lines)" % (len(d) - limit)]
        return d


# dovesd-generator -n against doveconf -n (see README, "-n"). doveconf -n prints a service or
# listener setting whenever the file sets it, even to its default (process_limit = 0), and
# leaves out a service or listener that sets nothing; dovesd -n prints every declared
# service and listener (dovesd has no built-in ones) with the settings that differ from the
# defaults below. Both sides are normalized to "non-default lines, no empty blocks".
SERVICE_DEFAULTS = {
        "chroot": "", "client_limit": "0", "drop_priv_before_exec": "no", "executable": "",
        "extra_groups": "", "group": "", "idle_kill": "0", "privileged_group": "",
        "process_limit": "0", "process_min_avail": "0", "protocol": "", "service_count": "0",
        "type": "", "user": "", "vsz_limit": "18446744073709551615 B",
}
LISTENER_DEFAULTS = {
        "address": "", "haproxy": "no", "port": "0", "reuse_port": "no", "ssl": "no",
        "group": "", "mode": "0600", "user": "",
}
# Globals whose default dovesd sets differently (dovesd-generator(8), -n): a line with
# either program's default is dropped from both outputs. base_dir: /run/dovesd (or Dovecot's
# /run/dovecot when the config runs Dovecot's programs); instance_name: dovesd, the unit
# prefix.
DOVESD_DEFAULT_GLOBALS = {
        "base_dir": ("/run/dovecot", "/run/dovesd"),
        "instance_name": ("dovecot", "dovesd"),
}


def normalize_n(text):
        """doveconf -n / dovesd -n output -> comparable lines.

        Drops the header comments and, inside services and their listeners, default-valued
        lines and blocks left empty. Every other section (passdb, userdb, namespace, plugin,
        protocol/local/remote filters ...) is compared as printed."""
        out, stack = [], []          # stack of [header line, body lines, kind]
        for line in text.split("\n"):
                if not line or (not stack and line.startswith("#")):
                        continue
                s = line.strip()
                if s.endswith("{"):
                        kind = s.split()[0]
                        if stack and stack[-1][2] != "service":
                                kind = "other"
                        elif not stack and kind != "service":
                                kind = "other"
                        stack.append([line, [], kind])
                        continue
                if s == "}":
                        head, body, kind = stack.pop()
                        # only services and listeners lose their empty blocks
                        block = [head] + body + [line] if body or kind == "other" else []
                        (stack[-1][1] if stack else out).extend(block)
                        continue
                if stack:
                        if any(k == "other" for _, _, k in stack):
                                stack[-1][1].append(line)
                                continue
                        m = re.match(r"^\s*(\S+) = ?(.*)$", line)
                        defaults = SERVICE_DEFAULTS if len(stack) == 1 else LISTENER_DEFAULTS
                        if m and defaults.get(m.group(1)) == m.group(2):
                                continue
                        stack[-1][1].append(line)
                        continue
                m = re.match(r"^(\S+) = ?(.*)$", line)
                if m and m.group(2) in DOVESD_DEFAULT_GLOBALS.get(m.group(1), ()):
                        continue
                if m and m.group(1) == "protocols":
                        # doveconf keeps the space a "$protocols imap" expansion leaves in
                        # front (protocols = " imap"); dovesd prints the list it uses
                        line = "protocols = " + " ".join(m.group(2).strip('"').split())
                out.append(line)
        return "\n".join(out) + "\n"


def check_n(cpath, generator, env, cwd, doveconf_args):
        """Compare doveconf -n with dovesd-generator -n; returns (ok, comments)."""
        rc, out, err = run([DOVECONF, "-c", cpath, "-n"] + doveconf_args, env, cwd)
        if rc != 0:
                return False, ["doveconf -n failed (rc %d):" % rc] + err.strip().splitlines()
        grc, gout, gerr = run([generator, "-c", cpath, "-n"], env, cwd)
        if grc != 0:
                return False, ["dovesd-generator -n failed (rc %d):" % grc] + \
                        gerr.strip().splitlines()[:20]
        head = gout.split("\n", 1)[0]
        if head != "# dovesd %s: %s" % (head.split()[2].rstrip(":") if len(head.split()) > 2
                                         else "?", cpath):
                return False, ["dovesd-generator -n: first line is not '# dovesd VERSION: "
                               "%s': %r" % (cpath, head)]
        if normalize_n(gout) != normalize_n(out):
                return False, ["-n:"] + unified(normalize_n(out), normalize_n(gout))
        return True, []


BUILTIN_NAMES = None


def builtin_names(env):
        global BUILTIN_NAMES
        if BUILTIN_NAMES is None:
                rc, out, err = run([DOVECONF, "-c", "/dev/null", "-a"], env)
                BUILTIN_NAMES = {n for n, _ in service_sections(out)}
                if rc != 0 or len(BUILTIN_NAMES) < 20:
                        raise RuntimeError("doveconf -c /dev/null -a failed: " + err.strip())
        return BUILTIN_NAMES


def check_case(path, generator):
        """Return (ok, [comment lines])."""
        kind = path.split("/")[0]
        d = directives(path)
        env = dict(os.environ)
        env.pop("DOVESD_CONFIG", None)
        env.pop("DOVESD_LOG_LEVEL", None)
        env.update(d["env"])
        # how both programs get the file: valid/NAME.conf from here (default), an absolute
        # path, or the bare file name from the case's own directory
        cwd, cpath = HERE, path
        if d["path"] == "absolute":
                cpath = os.path.join(HERE, path)
        elif d["path"] == "bare":
                cwd, cpath = os.path.join(HERE, os.path.dirname(path)), os.path.basename(path)
        rc, out, err = run([DOVECONF, "-c", cpath, "-a"] + d["doveconf-args"], env, cwd)
        notes = []

        if kind == "valid":
                if rc != 0:
                        return False, ["doveconf rejected a valid config (rc %d):" % rc] + \
                                err.strip().splitlines()
                names, files = declared_services(os.path.join(HERE, path))
                clash = sorted(set(names) & builtin_names(env))
                if clash and BUILTINS not in files:
                        return False, ["unfair case: declares built-in service(s) %s without "
                                       "including examples/dovecot-2.3-services.conf" %
                                       ", ".join(clash)]
                if not names:
                        return False, ["unfair case: declares no service"]
                wanted = set(names)
                expected = "".join(t for n, t in service_sections(out) if n in wanted)
                if generator is None:
                        return True, []
                grc, gout, gerr = run([generator, "-c", cpath, "--dump"], env, cwd)
                if grc != 0:
                        return False, ["dovesd-generator --dump failed (rc %d):" % grc] + \
                                gerr.strip().splitlines()[:20]
                if gout != expected:
                        return False, unified(expected, gout)
                grc, gout, gerr = run([generator, "-c", cpath, "--check"], env, cwd)
                if grc != 0 or gout != "configuration OK\n":
                        return False, ["dovesd-generator --check: rc %d, stdout %r" % (grc, gout[:200])] + \
                                gerr.strip().splitlines()[:20]
                missing = [w for w in expected_warnings(err)
                           if not any(re.match(w, ln) for ln in gerr.splitlines())]
                if missing:
                        return False, ["doveconf warned, dovesd --check did not:"] + \
                                ["want /%s/" % w for w in missing] + \
                                ["dovesd stderr: " + ln for ln in gerr.strip().splitlines()[:10]]
                return check_n(cpath, generator, env, cwd, d["doveconf-args"])

        if kind == "invalid":
                fatal = doveconf_fatal(err)
                if rc == 0 or fatal is None:
                        return False, ["doveconf accepted an invalid config (rc %d)" % rc] + \
                                err.strip().splitlines()
                if d["error"] is not None and fmt_fatal(fatal) != d["error"]:
                        return False, ["doveconf's error differs from this case's annotation:",
                                       "doveconf:   " + fmt_fatal(fatal),
                                       "annotation: " + d["error"]]
                if d["error"] is None:
                        notes.append("no '# diff: error' annotation")
                if generator is None:
                        return not notes, notes + ["doveconf: " + fmt_fatal(fatal)]
                grc, gout, gerr = run([generator, "-c", cpath, "--check"], env, cwd)
                file, line, msg = fatal
                if line is not None:
                        want = "%s:%d: %s" % (file, line, msg)
                        good = want in gerr.splitlines()
                else:
                        want = "FILE:LINE: %s" % msg
                        # dovesd may explain after doveconf's text (": hint" or " (also …)")
                        good = any(re.match(r"^.+:\d+: " + re.escape(msg) + r"(?:$|: | \()", ln)
                                   for ln in gerr.splitlines())
                if grc != 1 or not good:
                        return False, ["doveconf: " + fmt_fatal(fatal),
                                       "expected from dovesd (rc 1): " + want,
                                       "dovesd rc %d, stdout: %s" % (grc, gout.strip()[:200])] + \
                                ["dovesd stderr: " + ln for ln in gerr.strip().splitlines()[:15]]
                return True, []

        if kind == "dovesd-only-invalid":
                if rc != 0:
                        return False, ["doveconf rejected it, so it belongs in invalid/:"] + \
                                err.strip().splitlines()
                if d["dovesd"] is None:
                        return False, ["no '# diff: dovesd FILE:LINE: MESSAGE' annotation"]
                if generator is None:
                        return True, []
                grc, gout, gerr = run([generator, "-c", cpath, "--check"], env, cwd)
                if grc != 1 or d["dovesd"] not in gerr.splitlines():
                        return False, ["expected from dovesd (rc 1): " + d["dovesd"],
                                       "dovesd rc %d, stdout: %s" % (grc, gout.strip()[:200])] + \
                                ["dovesd stderr: " + ln for ln in gerr.strip().splitlines()[:15]]
                return True, []

        return False, ["unknown case directory " + kind]


def main(argv):
        if len(argv) < 2:
                print("usage: run.py GENERATOR|--doveconf-only [CASE...]", file=sys.stderr)
                return 2
        generator = None if argv[1] == "--doveconf-only" else os.path.abspath(argv[1])
        cases = argv[2:]
        if not cases:
                for kind in ("valid", "invalid", "dovesd-only-invalid"):
                        cases += sorted(os.path.relpath(p, HERE) for p in
                                        glob.glob(os.path.join(HERE, kind, "*.conf")))
        if subprocess.run(["sh", "-c", "command -v " + DOVECONF], stdout=subprocess.DEVNULL).returncode:
                print("Bail out! doveconf not found (Debian package dovecot-core)")
                return 1
        if generator is not None and not os.access(generator, os.X_OK):
                print("Bail out! not executable: " + generator)
                return 1
        print("1..%d" % len(cases))
        failed = 0
        for n, case in enumerate(cases, 1):
                try:
                        ok, comments = check_case(case, generator)
                except Exception as e:  # a broken case fails, it never stops the run
                        ok, comments = False, ["runner error: %r" % e]
                name = case[:-5] if case.endswith(".conf") else case
                print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
                for c in comments:
                        print("# " + c)
                failed += not ok
        return 1 if failed else 0


if __name__ == "__main__":
        sys.exit(main(sys.argv))
