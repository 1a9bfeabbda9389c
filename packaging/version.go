package packaging

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DebVersion turns `git describe --tags --always --dirty` output and the
// commit time into a Debian version of a native package that grows with
// every commit, so that a newer build upgrades an older one:
//
//	v1.2.3                → 1.2.3
//	v1.2.3-4-gabc1234     → 1.2.3+git4.abc1234
//	abc1234 (no tag)      → 0.0~git20251202T101500.abc1234
//	…-dirty               → … with ".dirty" appended
func DebVersion(describe string, commit time.Time) (string, error) {
	d := strings.TrimSpace(describe)
	dirty := strings.HasSuffix(d, "-dirty")
	d = strings.TrimSuffix(d, "-dirty")
	var v string
	if hashRE.MatchString(d) {
		v = "0.0~git" + commit.UTC().Format("20060102T150405") + "." + d
	} else if m := describeRE.FindStringSubmatch(d); m != nil {
		v = m[1]
		if m[2] != "" {
			v += "+git" + m[2] + "." + m[3]
		}
	} else {
		return "", fmt.Errorf("cannot make a Debian version of %q: want a tag vX.Y.Z or a commit hash", describe)
	}
	if dirty {
		v += ".dirty"
	}
	return v, checkVersion(v)
}

var (
	// A release tag has a dot (v1.2.3); --always alone prints the hash.
	describeRE = regexp.MustCompile(`^v?([0-9]+\.[0-9A-Za-z.+~]*)(?:-([0-9]+)-g([0-9a-f]+))?$`)
	hashRE     = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	// A native version (no revision, no epoch): Debian policy §5.6.12.
	versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
)

func checkVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q: want a digit first, then letters, digits and . + ~ (a native Debian version)", v)
	}
	return nil
}

// GitVersion runs git in dir and returns DebVersion of its HEAD and the
// commit time.
func GitVersion(dir string) (string, time.Time, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	desc, err := git("describe", "--tags", "--always", "--dirty", "--abbrev=12")
	if err != nil {
		return "", time.Time{}, err
	}
	ct, err := git("log", "-1", "--format=%ct")
	if err != nil {
		return "", time.Time{}, err
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("commit time %q: %w", ct, err)
	}
	t := time.Unix(sec, 0).UTC()
	v, err := DebVersion(desc, t)
	return v, t, err
}
