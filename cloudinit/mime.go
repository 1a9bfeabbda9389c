package cloudinit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
)

// Part is one part of MIME multipart user-data.
type Part struct {
	Filename    string
	ContentType string
	Content     []byte
}

// mimeBoundary is fixed so renders are reproducible (golden files); it is
// checked not to occur in any part.
const mimeBoundary = "==vrouter-cloudinit-boundary=="

// contentTypes are the user-data part types cloud-init 22.4 handles.
var contentTypes = map[string]bool{
	"text/cloud-config":               true,
	"text/cloud-config-archive":       true,
	"text/x-shellscript":              true,
	"text/x-shellscript-per-boot":     true,
	"text/x-shellscript-per-instance": true,
	"text/x-shellscript-per-once":     true,
	"text/cloud-boothook":             true,
	"text/upstart-job":                true,
	"text/part-handler":               true,
	"text/x-include-url":              true,
	"text/x-include-once-url":         true,
	"text/jinja2":                     true,
}

// startsWith maps a part's first line to the type cloud-init would give it.
var startsWith = []struct{ prefix, ctype string }{
	{"#cloud-config-archive", "text/cloud-config-archive"},
	{"#cloud-config", "text/cloud-config"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"#include-once", "text/x-include-once-url"},
	{"#include", "text/x-include-url"},
	{"#part-handler", "text/part-handler"},
	{"## template: jinja", "text/jinja2"},
	{"#!", "text/x-shellscript"},
}

// ReadPart reads a --part argument, FILE or FILE:CONTENT-TYPE. Without a
// type it is guessed from the first line, as cloud-init does.
func ReadPart(arg string) (Part, error) {
	file, ctype := arg, ""
	if i := strings.LastIndex(arg, ":"); i > 0 && strings.Contains(arg[i+1:], "/") {
		file, ctype = arg[:i], arg[i+1:]
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return Part{}, fmt.Errorf("--part: %w", err)
	}
	p := Part{Filename: filepath.Base(file), ContentType: ctype, Content: data}
	if err := p.check(); err != nil {
		return Part{}, fmt.Errorf("--part %s: %w", file, err)
	}
	return p, nil
}

func (p *Part) check() error {
	if p.ContentType == "" {
		for _, s := range startsWith {
			if bytes.HasPrefix(p.Content, []byte(s.prefix)) {
				p.ContentType = s.ctype
				break
			}
		}
		if p.ContentType == "" {
			return fmt.Errorf("cannot tell its type from its first line; give it as FILE:CONTENT-TYPE (e.g. text/x-shellscript)")
		}
	}
	if !contentTypes[p.ContentType] {
		return fmt.Errorf("content type %q is not one cloud-init handles", p.ContentType)
	}
	if bytes.Contains(p.Content, []byte(mimeBoundary)) {
		return fmt.Errorf("contains the MIME boundary %q", mimeBoundary)
	}
	return nil
}

// Multipart renders parts as a MIME multipart/mixed message, the format
// cloud-init's user-data handler (and write-mime-multipart) uses.
func Multipart(parts []Part) ([]byte, error) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if err := w.SetBoundary(mimeBoundary); err != nil {
		return nil, err
	}
	for i := range parts {
		p := parts[i]
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("part %s: %w", p.Filename, err)
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", mime.FormatMediaType(p.ContentType, map[string]string{"charset": "us-ascii"}))
		h.Set("MIME-Version", "1.0")
		h.Set("Content-Transfer-Encoding", "7bit")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.Filename}))
		content := p.Content
		if !isASCII(p.Content) {
			// base64, not 8bit: cloud-init (22.4) reads an 8bit part's
			// bytes as surrogate escapes and its YAML loader then refuses
			// them ("special characters are not allowed"), so none of the
			// part's files would be written.
			h.Set("Content-Type", mime.FormatMediaType(p.ContentType, map[string]string{"charset": "utf-8"}))
			h.Set("Content-Transfer-Encoding", "base64")
			content = base64Lines(p.Content)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if _, err := pw.Write(content); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("Content-Type: " + mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mimeBoundary}) + "\n")
	out.WriteString("MIME-Version: 1.0\n\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// base64Lines is b in base64, in lines of 76 characters (RFC 2045 §6.8).
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	out.WriteString(enc + "\n")
	return out.Bytes()
}
