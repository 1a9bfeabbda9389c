package cloudinit

// The early start: on an instance's first boot, vrouter-seed.service
// (`vrouter seed`) reads the config drive as soon as the root file system
// is writable and writes the user-data's vrouter files itself, so that
// vrouter starts before cloud-init has run at all (its init stage, which
// would write them, ends ~15 s later under TCG). It
// does exactly what cloud-init's write_files would do with those entries
// and nothing else, and it steps aside whenever it cannot be sure of doing
// the same: any user-data it does not fully understand is left to
// cloud-init, which then writes the files as before.

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vrouter/vrouter/images"
)

// maxUserData bounds what is read and decompressed: nova caps user-data at
// 64 KiB base64-encoded; gzip can expand that a lot.
const maxUserData = 16 << 20

// ErrLeftToCloudInit wraps every reason the early start steps aside: the
// user-data is valid for cloud-init but the early start cannot be sure of
// writing what cloud-init would.
var ErrLeftToCloudInit = errors.New("left to cloud-init")

func leave(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrLeftToCloudInit, fmt.Sprintf(format, args...))
}

// Drive is what the early start reads from a config drive or NoCloud seed.
type Drive struct {
	Format     SeedFormat
	InstanceID string
	UserData   []byte // nil: the drive has none
}

// ReadDrive reads the instance id and user-data from a mounted config drive
// (openstack/latest/{meta_data.json,user_data}) or NoCloud seed
// (meta-data, user-data) at dir.
func ReadDrive(dir string) (*Drive, error) {
	md, err := os.ReadFile(filepath.Join(dir, "openstack", "latest", "meta_data.json"))
	if err == nil {
		var m struct {
			UUID string `json:"uuid"`
		}
		if err := json.Unmarshal(md, &m); err != nil {
			return nil, fmt.Errorf("config drive meta_data.json: %w", err)
		}
		if m.UUID == "" {
			return nil, errors.New("config drive meta_data.json has no uuid")
		}
		ud, err := readOptional(filepath.Join(dir, "openstack", "latest", "user_data"))
		if err != nil {
			return nil, err
		}
		return &Drive{Format: ConfigDrive, InstanceID: m.UUID, UserData: ud}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	md, err = os.ReadFile(filepath.Join(dir, "meta-data"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is neither a config drive (openstack/latest/meta_data.json) nor a NoCloud seed (meta-data)", dir)
	}
	if err != nil {
		return nil, err
	}
	var m struct {
		InstanceID string `yaml:"instance-id"`
	}
	if err := yaml.Unmarshal(md, &m); err != nil {
		return nil, fmt.Errorf("NoCloud meta-data: %w", err)
	}
	if m.InstanceID == "" {
		return nil, errors.New("NoCloud meta-data has no instance-id")
	}
	ud, err := readOptional(filepath.Join(dir, "user-data"))
	if err != nil {
		return nil, err
	}
	return &Drive{Format: NoCloud, InstanceID: m.InstanceID, UserData: ud}, nil
}

func readOptional(p string) ([]byte, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUserData+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUserData {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxUserData)
	}
	return b, nil
}

// EarlyFile is one file the early start writes.
type EarlyFile struct {
	Path string
	Data []byte
	Mode os.FileMode
}

// IsEarlyPath reports whether the early start may write p: the files
// `vrouter cloudinit` puts in write_files for the router (config, sysctl,
// networkd .link/.network, the unit's drop-ins), never anything else.
func IsEarlyPath(p string) bool {
	dir, base := path.Split(p)
	switch {
	case p != path.Clean(p) || !path.IsAbs(p):
		return false
	case dir == path.Dir(ConfigPath)+"/":
		return true
	case p == SysctlPath:
		return true
	case dir == networkdDir+"/":
		return strings.Contains(base, "-vrouter-") && (strings.HasSuffix(base, ".link") || strings.HasSuffix(base, ".network"))
	case dir == path.Dir(images.XDPDropInPath)+"/":
		return strings.HasSuffix(base, ".conf")
	}
	return false
}

// EarlyFiles returns the write_files entries of userData that the early
// start writes, the vrouter config last. It returns nil and no error when the
// user-data has no vrouter config, and an error wrapping ErrLeftToCloudInit
// when it cannot be sure of writing what cloud-init would (includes, jinja
// templates, several cloud-config parts with write_files, merge rules,
// unknown encodings, owners or modes, append, ...).
func EarlyFiles(userData []byte) ([]EarlyFile, error) {
	if len(userData) > maxUserData {
		return nil, leave("user-data larger than %d bytes", maxUserData)
	}
	data, err := gunzipMaybe(userData)
	if err != nil {
		return nil, leave("user-data: %v", err)
	}
	configs, err := cloudConfigs(data, 0)
	if err != nil {
		return nil, err
	}
	var wf *yaml.Node
	for _, doc := range configs {
		var m yaml.Node
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, leave("cloud-config is not YAML: %v", err)
		}
		if m.Kind == 0 {
			continue // empty document
		}
		if m.Kind != yaml.DocumentNode || len(m.Content) != 1 || m.Content[0].Kind != yaml.MappingNode {
			return nil, leave("cloud-config is not a mapping")
		}
		top := m.Content[0]
		for i := 0; i+1 < len(top.Content); i += 2 {
			switch top.Content[i].Value {
			case "merge_how", "merge_type":
				return nil, leave("cloud-config has %s", top.Content[i].Value)
			case "write_files":
				if wf != nil {
					return nil, leave("several cloud-config parts have write_files")
				}
				wf = top.Content[i+1]
			}
		}
	}
	if wf == nil {
		return nil, nil
	}
	if wf.Kind != yaml.SequenceNode {
		return nil, leave("write_files is not a list")
	}
	var files []EarlyFile
	var cfg *EarlyFile
	seen := map[string]bool{}
	for _, n := range wf.Content {
		f, ours, err := earlyFile(n)
		if err != nil {
			return nil, err
		}
		if !ours {
			continue
		}
		if seen[f.Path] {
			// cloud-init writes both in turn; the early start does not
			// guess which one wins.
			return nil, leave("write_files has %s twice", f.Path)
		}
		seen[f.Path] = true
		if f.Path == ConfigPath {
			cfg = &f
			continue
		}
		files = append(files, f)
	}
	if cfg == nil {
		return nil, nil
	}
	return append(files, *cfg), nil
}

// earlyFile decodes one write_files entry; ours is false for paths the
// early start leaves alone (and deferred entries, which cloud-init writes in
// its final stage).
func earlyFile(n *yaml.Node) (f EarlyFile, ours bool, err error) {
	if n.Kind != yaml.MappingNode {
		return f, false, leave("a write_files entry is not a mapping")
	}
	fields := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		fields[n.Content[i].Value] = n.Content[i+1]
	}
	p, ok := fields["path"]
	if !ok || p.Kind != yaml.ScalarNode {
		return f, false, leave("a write_files entry has no path")
	}
	if !IsEarlyPath(p.Value) {
		return f, false, nil
	}
	f.Path = p.Value
	for k, v := range fields {
		switch k {
		case "path", "content", "encoding", "owner", "permissions":
			if v.Kind != yaml.ScalarNode {
				return f, false, leave("%s: %s is not a scalar", f.Path, k)
			}
		case "defer":
			var d bool
			if v.Decode(&d) != nil {
				return f, false, leave("%s: defer is not a boolean", f.Path)
			}
			if d {
				return f, false, nil
			}
		case "append":
			var a bool
			if v.Decode(&a) != nil || a {
				return f, false, leave("%s: append", f.Path)
			}
		default:
			// source: (a URL), or a key of a later cloud-init.
			return f, false, leave("%s: write_files key %q", f.Path, k)
		}
	}
	content := ""
	if c, ok := fields["content"]; ok {
		if c.Tag == "!!null" {
			content = ""
		} else if c.Tag != "!!str" && c.Tag != "!!binary" {
			// cloud-init would str() an int or a bool: its spelling of
			// it is Python's, not left to guesswork here.
			return f, false, leave("%s: content is a %s", f.Path, c.Tag)
		} else {
			content = c.Value
		}
	}
	enc := ""
	if e, ok := fields["encoding"]; ok {
		enc = strings.ToLower(strings.TrimSpace(e.Value))
	}
	if c, ok := fields["content"]; ok && c.Tag == "!!binary" {
		if enc != "" {
			return f, false, leave("%s: !!binary content with encoding %s", f.Path, enc)
		}
		enc = "b64"
	}
	if f.Data, err = decodeContent(content, enc); err != nil {
		return f, false, leave("%s: %v", f.Path, err)
	}
	if o, ok := fields["owner"]; ok {
		switch strings.TrimSpace(o.Value) {
		case "root", "root:root", "0:0":
		default:
			return f, false, leave("%s: owner %q", f.Path, o.Value)
		}
	}
	f.Mode = 0o644
	if m, ok := fields["permissions"]; ok {
		if f.Mode, err = earlyMode(m); err != nil {
			return f, false, leave("%s: %v", f.Path, err)
		}
	}
	return f, true, nil
}

// earlyMode decodes permissions as cloud-init does where that is
// unambiguous: a quoted string is octal (int(s, 8)); a plain scalar is a
// YAML 1.1 integer to PyYAML, octal only with a leading 0, so a plain one
// without it is refused rather than guessed.
func earlyMode(n *yaml.Node) (os.FileMode, error) {
	s := n.Value
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && !strings.HasPrefix(s, "0") {
		return 0, fmt.Errorf("permissions %s: write them quoted, e.g. '0644'", s)
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("permissions %q: want an octal mode, e.g. '0644'", n.Value)
	}
	return os.FileMode(v&0o777) | modeBits(v), nil
}

func modeBits(v uint64) os.FileMode {
	var m os.FileMode
	if v&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// decodeContent applies a write_files encoding as cloud-init does.
func decodeContent(content, enc string) ([]byte, error) {
	switch enc {
	case "", "text/plain":
		return []byte(content), nil
	case "b64", "base64":
		return b64(content)
	case "gz", "gzip":
		return gunzip([]byte(content))
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		b, err := b64(content)
		if err != nil {
			return nil, err
		}
		return gunzip(b)
	}
	return nil, fmt.Errorf("encoding %q", enc)
}

func b64(s string) ([]byte, error) {
	// Python's b64decode drops characters outside the alphabet
	// (newlines in a folded block) by default.
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	return b, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxUserData+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(out) > maxUserData {
		return nil, fmt.Errorf("gzip: more than %d bytes", maxUserData)
	}
	return out, nil
}

// gunzipMaybe decompresses gzip'd user-data, as cloud-init does.
func gunzipMaybe(b []byte) ([]byte, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		return gunzip(b)
	}
	return b, nil
}

// cloudConfigs returns the #cloud-config documents of the user-data: the
// whole of it, or the text/cloud-config parts of a MIME multipart. Parts
// that cloud-init runs rather than merges (scripts, boothooks) are skipped;
// anything that can bring in cloud-config by other means is left to
// cloud-init.
func cloudConfigs(data []byte, depth int) ([][]byte, error) {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	first = bytes.TrimSpace(bytes.TrimSuffix(first, []byte("\r")))
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, nil
	case bytes.HasPrefix(first, []byte("#cloud-config-archive")),
		bytes.HasPrefix(first, []byte("#cloud-config-jsonp")):
		return nil, leave("user-data is %s", first)
	case bytes.Equal(first, []byte("#cloud-config")):
		return [][]byte{data}, nil
	case bytes.HasPrefix(first, []byte("#!")), bytes.HasPrefix(first, []byte("#cloud-boothook")),
		bytes.HasPrefix(first, []byte("#upstart-job")):
		return nil, nil // a script: nothing written by write_files
	case bytes.HasPrefix(bytes.ToLower(first), []byte("content-type:")),
		bytes.HasPrefix(bytes.ToLower(first), []byte("mime-version:")):
		return multipartConfigs(data, depth)
	}
	return nil, leave("user-data starts with %.40q", first)
}

func multipartConfigs(data []byte, depth int) ([][]byte, error) {
	if depth > 0 {
		return nil, leave("nested multipart user-data")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, leave("MIME user-data: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, leave("MIME user-data: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := partBody(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		if err != nil {
			return nil, err
		}
		return onePart(mt, body, depth)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var out [][]byte
	for range 1000 {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, leave("MIME user-data: %v", err)
		}
		pt := p.Header.Get("Content-Type")
		if pt == "" {
			pt = "text/plain"
		}
		ptype, _, err := mime.ParseMediaType(pt)
		if err != nil {
			return nil, leave("MIME part: %v", err)
		}
		body, err := partBody(p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			return nil, err
		}
		docs, err := onePart(ptype, body, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return nil, leave("MIME user-data has more than 1000 parts")
}

func partBody(cte string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxUserData+1))
	if err != nil {
		return nil, leave("MIME part: %v", err)
	}
	if len(b) > maxUserData {
		return nil, leave("MIME part larger than %d bytes", maxUserData)
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return b, nil
	case "base64":
		d, err := b64(string(b))
		if err != nil {
			return nil, leave("MIME part: %v", err)
		}
		return d, nil
	}
	return nil, leave("MIME part Content-Transfer-Encoding %q", cte)
}

// onePart handles one MIME part by its type, as cloud-init's handlers do.
func onePart(ptype string, body []byte, depth int) ([][]byte, error) {
	body, err := gunzipMaybe(body)
	if err != nil {
		return nil, leave("MIME part: %v", err)
	}
	switch ptype {
	case "text/cloud-config":
		first, _, _ := bytes.Cut(body, []byte("\n"))
		if bytes.HasPrefix(bytes.TrimSpace(first), []byte("## template:")) {
			return nil, leave("a jinja cloud-config part")
		}
		return [][]byte{body}, nil
	case "text/x-shellscript", "text/x-shellscript-per-boot", "text/x-shellscript-per-instance",
		"text/x-shellscript-per-once", "text/cloud-boothook", "text/upstart-job":
		return nil, nil
	case "text/plain", "text/x-not-multipart", "multipart/mixed":
		// cloud-init looks at the first line of these.
		return cloudConfigs(body, depth+1)
	}
	return nil, leave("MIME part of type %s", ptype)
}

// WriteSemaphore is the file cloud-init's write_files module leaves once it
// has run for an instance (per-instance frequency); with it present, the
// files are cloud-init's (or the operator's since) and the early start
// leaves them alone.
func WriteSemaphore(instanceID string) string {
	return path.Join("/var/lib/cloud/instances", instanceID, "sem", "config_write_files")
}

// WriteEarlyFiles writes files under root ("/" on a VM) atomically, each
// through a temporary file renamed over the target, in order (the config
// last, so that whatever starts on it finds the rest in place), and then
// flushes the file system once (one journal commit rather than one per
// file: each costs ~0.2 s under TCG). Files whose contents and mode are
// already right are not rewritten. It returns the paths it wrote.
func WriteEarlyFiles(root string, files []EarlyFile) ([]string, error) {
	var wrote []string
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.Data) {
			if st, err := os.Stat(p); err == nil && st.Mode() == f.Mode {
				continue
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return wrote, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".vrouter-seed-*")
		if err != nil {
			return wrote, err
		}
		_, err = tmp.Write(f.Data)
		if err == nil {
			err = tmp.Chmod(f.Mode)
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), p)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return wrote, fmt.Errorf("write %s: %w", f.Path, err)
		}
		wrote = append(wrote, f.Path)
	}
	if len(wrote) > 0 {
		if err := syncFS(filepath.Join(root, filepath.FromSlash(wrote[len(wrote)-1]))); err != nil {
			return wrote, fmt.Errorf("sync: %w", err)
		}
	}
	return wrote, nil
}

// ISOLabel returns the volume identifier of the ISO 9660 file system on the
// device or image at p (the label udev's blkid would give), or "" when p
// holds none. Reading it directly lets the early start find the config
// drive as soon as the kernel has the device, without waiting for udev's
// coldplug to reach it (12 s after the kernel attached it, under TCG).
func ISOLabel(p string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscallNonblock, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// The primary volume descriptor: sector 16 of 2048 bytes.
	var pvd [2048]byte
	if _, err := f.ReadAt(pvd[:], 16*2048); err != nil {
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		return "", err
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return "", nil
	}
	return strings.TrimRight(string(pvd[40:72]), " \x00"), nil
}
