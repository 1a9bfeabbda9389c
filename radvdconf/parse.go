package radvdconf

import (
	"fmt"
	"strings"
)

// Pos is a position in a radvd.conf file, 1-based.
type Pos struct {
	Line, Col int
}

// Stmt is one statement: `Name Args... ;` or `Name Args... { Body } ;`.
// radvd's grammar is regular enough that every section (interface, prefix,
// route, RDNSS, DNSSL, clients, nat64prefix, ...) and every option has this
// shape.
type Stmt struct {
	Pos   Pos
	Name  string
	Args  []Arg
	Block bool // has a { } body
	Body  []Stmt
}

// Arg is one word or quoted string after a statement name.
type Arg struct {
	Pos    Pos
	Text   string
	Quoted bool
}

// Error is a problem at a position in a file.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// Errors lists every problem found, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

type tokKind uint8

const (
	tokWord tokKind = iota
	tokString
	tokOpen
	tokClose
	tokSemi
	tokEOF
)

type token struct {
	kind tokKind
	text string
	pos  Pos
}

// lex splits src into tokens; '#' starts a comment up to the end of the line.
func lex(file string, src []byte) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	adv := func() {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i++
	}
	for i < len(src) {
		c := src[i]
		p := Pos{line, col}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			adv()
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				adv()
			}
		case c == '{':
			toks = append(toks, token{tokOpen, "{", p})
			adv()
		case c == '}':
			toks = append(toks, token{tokClose, "}", p})
			adv()
		case c == ';':
			toks = append(toks, token{tokSemi, ";", p})
			adv()
		case c == '"':
			adv()
			start := i
			for i < len(src) && src[i] != '"' && src[i] != '\n' {
				adv()
			}
			if i >= len(src) || src[i] != '"' {
				return nil, &Error{file, p, "unterminated string"}
			}
			toks = append(toks, token{tokString, string(src[start:i]), p})
			adv()
		case c < 0x20 || c >= 0x7f:
			return nil, &Error{file, p, fmt.Sprintf("unexpected character %q", rune(c))}
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n\f\v#{};\"", rune(src[i])) && src[i] >= 0x20 && src[i] < 0x7f {
				adv()
			}
			toks = append(toks, token{tokWord, string(src[start:i]), p})
		}
	}
	return append(toks, token{tokEOF, "", Pos{line, col}}), nil
}

// maxDepth bounds nesting; radvd.conf nests two levels deep.
const maxDepth = 8

// Parse parses a radvd.conf file into its statements; name is used in
// error positions. It checks the syntax only; Convert checks the meaning.
func Parse(name string, src []byte) ([]Stmt, error) {
	toks, err := lex(name, src)
	if err != nil {
		return nil, Errors{err.(*Error)}
	}
	p := &parser{file: name, toks: toks}
	stmts, err := p.stmts(0)
	if err != nil {
		return nil, Errors{err.(*Error)}
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, Errors{{name, t.pos, fmt.Sprintf("unexpected %q", t.text)}}
	}
	return stmts, nil
}

type parser struct {
	file string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(pos Pos, format string, args ...any) error {
	return &Error{p.file, pos, fmt.Sprintf(format, args...)}
}

// stmts parses statements until '}' or the end of the file.
func (p *parser) stmts(depth int) ([]Stmt, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek().pos, "sections nested too deeply")
	}
	var out []Stmt
	for {
		t := p.peek()
		switch t.kind {
		case tokEOF, tokClose:
			return out, nil
		case tokSemi:
			p.next() // a stray ';' is harmless
			continue
		case tokWord:
		default:
			return nil, p.errorf(t.pos, "expected an option or section name, got %q", t.text)
		}
		p.next()
		s := Stmt{Pos: t.pos, Name: t.text}
		for {
			a := p.peek()
			if a.kind != tokWord && a.kind != tokString {
				break
			}
			p.next()
			s.Args = append(s.Args, Arg{Pos: a.pos, Text: a.text, Quoted: a.kind == tokString})
		}
		switch e := p.next(); e.kind {
		case tokSemi:
		case tokOpen:
			body, err := p.stmts(depth + 1)
			if err != nil {
				return nil, err
			}
			if c := p.next(); c.kind != tokClose {
				return nil, p.errorf(c.pos, "section %s opened at %d:%d is not closed", s.Name, t.pos.Line, t.pos.Col)
			}
			if sc := p.next(); sc.kind != tokSemi {
				return nil, p.errorf(sc.pos, "expected ';' after the '}' of %s", s.Name)
			}
			s.Block, s.Body = true, body
		default:
			what := fmt.Sprintf("%q", e.text)
			if e.kind == tokEOF {
				what = "end of file"
			}
			return nil, p.errorf(e.pos, "expected ';' or '{' after %s, got %s", s.Name, what)
		}
		out = append(out, s)
	}
}
