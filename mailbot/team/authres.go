package team

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Errors of parseAuthres.
var (
	errAuthresComment = errors.New("team: authentication-results: unterminated or unbalanced comment")
	errAuthresQuote   = errors.New("team: authentication-results: unterminated quoted string")
	errAuthresID      = errors.New("team: authentication-results: no authserv-id, or text after it")
	errAuthresResult  = errors.New("team: authentication-results: malformed result")
	errAuthresRepeat  = errors.New("team: authentication-results: repeated property")
)

// arToken is one lexical token of an Authentication-Results field value.
type arToken struct {
	kind byte   // 'w' a word, 'q' a quoted string, '=' or ';'
	text string // the word, or the content of the quoted string
}

// value returns what the token stands for as the value of a property, and
// whether it can stand as one. A quoted string stands for its content only
// when that content is itself a plain word (RFC 8601 section 2.2: a pvalue
// is a token or a quoted-string); one with spaces, escapes or specials in it
// (reason="good signature") is never a domain, so it is left out rather
// than rewritten into one.
func (t arToken) value() (string, bool) {
	switch t.kind {
	case 'w':
		return t.text, true
	case 'q':
		if t.text != "" && !strings.ContainsFunc(t.text, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`()";=\`, r) }) {
			return t.text, true
		}
	}
	return "", false
}

// lexAuthres splits an Authentication-Results field value into words,
// quoted strings, "=" and ";", dropping white space, folding and comments
// (CFWS, RFC 5322 section 3.2.2, which RFC 8601 section 2.2 allows between
// any two tokens). It returns the tokens read before an error, so that the
// caller still learns the authserv-id of a field that breaks later on.
//
// QUIRK: go-msgauth v0.7.0's authres.Parse splits the value at every ";",
// also inside a comment, and so fails on `dkim=pass (2048-bit key;
// unprotected) header.d=...`, the form OpenDKIM writes (upstream
// emersion/go-msgauth issue 74, open; PR 53 and PR 75 unreleased). The
// comments are cut out here and only plain `method=result prop=value`
// results are handed to authres.Parse (parseAuthres).
//
// A double quote inside a comment opens a quoted string there as well,
// unlike RFC 5322 where it is plain ctext: MTAs copy an envelope sender
// into their comments (`domain of "x);dkim=pass(";@evil.example
// designates ...`), and a quoted local part is the only way a sender gets
// a parenthesis or a ";" into it. Read this way it stays inside the
// comment; a comment it leaves unbalanced fails the field (never a pass).
func lexAuthres(v string) ([]arToken, error) {
	var toks []arToken
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			end, ok := skipComment(v, i)
			if !ok {
				return toks, errAuthresComment
			}
			i = end
		case c == ')':
			return toks, errAuthresComment
		case c == '"':
			content, end, ok := quotedString(v, i)
			if !ok {
				return toks, errAuthresQuote
			}
			toks = append(toks, arToken{kind: 'q', text: content})
			i = end
		case c == ';' || c == '=':
			toks = append(toks, arToken{kind: c})
			i++
		default:
			j := i
			for j < len(v) && !strings.ContainsRune(" \t\r\n()\";=", rune(v[j])) {
				j++
			}
			toks = append(toks, arToken{kind: 'w', text: v[i:j]})
			i = j
		}
	}
	return toks, nil
}

// skipComment returns the index after the comment that opens at v[start]
// (RFC 5322 section 3.2.2: nested comments, quoted pairs), and false when
// it does not end.
func skipComment(v string, start int) (int, bool) {
	depth := 0
	for i := start; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			_, end, ok := quotedString(v, i)
			if !ok {
				return 0, false
			}
			i = end - 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// quotedString returns the content of the quoted string that opens at
// v[start] (quoted pairs kept as written), the index after it, and false
// when it does not end (RFC 5322 section 3.2.4).
func quotedString(v string, start int) (content string, end int, ok bool) {
	for i := start + 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return v[start+1 : i], i + 1, true
		}
	}
	return "", 0, false
}

// parseAuthres reads an Authentication-Results field value (RFC 8601
// section 2.2) as real MTAs write it: comments holding ";" or nested
// parentheses, folded lines, quoted values, unknown methods (arc, bimi,
// compauth, x-*), several results per method. It returns the authserv-id,
// "" when the field has none, and the results in field order, typed by
// authres.Parse.
//
// An error means the field cannot be read as a whole; id is still set when
// the field got that far. A result of a method other than dkim and dmarc
// that authres.Parse refuses is dropped (mailbot reads only those two);
// a malformed dkim or dmarc result fails the field.
func parseAuthres(v string) (id string, results []authres.Result, err error) {
	toks, lexErr := lexAuthres(v)
	var stmts [][]arToken
	cur := []arToken{}
	for _, t := range toks {
		if t.kind == ';' {
			stmts = append(stmts, cur)
			cur = []arToken{}
			continue
		}
		cur = append(cur, t)
	}
	stmts = append(stmts, cur)

	first := stmts[0]
	switch {
	case len(first) >= 2 && first[0].kind == 'w' && first[1].kind == '=':
		// QUIRK: no authserv-id, as Microsoft 365 writes the field
		// (`spf=pass (sender IP is ...) smtp.mailfrom=...; dkim=...`);
		// RFC 8601 section 2.2 requires one. Such a field belongs to no
		// server: id stays "" and never matches a trusted one.
	case len(first) == 0 || first[0].kind != 'w':
		return "", nil, errors.Join(errAuthresID, lexErr)
	default:
		id = first[0].text
		// RFC 8601 section 2.2: authserv-id [ CFWS authres-version ].
		if len(first) > 2 || len(first) == 2 && (first[1].kind != 'w' || first[1].text != "1") {
			return id, nil, errAuthresID
		}
		stmts = stmts[1:]
	}
	if lexErr != nil {
		return id, nil, lexErr
	}
	for _, st := range stmts {
		rs, err := parseResinfo(st)
		if err != nil {
			return id, nil, err
		}
		results = append(results, rs...)
	}
	return id, results, nil
}

// parseResinfo reads one `method=result property=value ...` statement.
func parseResinfo(st []arToken) ([]authres.Result, error) {
	if len(st) == 0 {
		return nil, nil
	}
	method := ""
	if st[0].kind == 'w' {
		method = strings.ToLower(st[0].text)
	}
	matters := method == "dkim" || method == "dmarc"
	bad := func(err error) ([]authres.Result, error) {
		if matters {
			return nil, fmt.Errorf("%w: %s", err, method)
		}
		return nil, nil // a method mailbot does not read
	}
	if len(st) == 1 && st[0].kind == 'w' && !matters {
		// "none" (RFC 8601 section 2.2, no-result), or QUIRK: the bare
		// tenant name older Microsoft 365 fields carry between results
		// (`smtp.mailfrom=163.com; contoso.onmicrosoft.com; dkim=...`).
		return nil, nil
	}
	if len(st) < 3 || st[0].kind != 'w' || st[1].kind != '=' || st[2].kind != 'w' {
		return bad(errAuthresResult)
	}
	var b strings.Builder
	seen := map[string]bool{}
	for i := 0; i < len(st); {
		if i+2 < len(st) && st[i].kind == 'w' && st[i+1].kind == '=' && st[i+2].kind != '=' {
			k := strings.ToLower(st[i].text)
			if seen[k] {
				// Which of two header.d would count? Neither.
				return bad(errAuthresRepeat)
			}
			seen[k] = true
			if v, ok := st[i+2].value(); ok {
				b.WriteString(" " + k + "=" + v)
			}
			i += 3
			continue
		}
		// QUIRK: a stray token, e.g. the "=" padding of a base64
		// header.b value, is skipped; it never joins a property.
		i++
	}
	_, rs, err := authres.Parse(";" + b.String())
	if err != nil {
		return bad(err)
	}
	return rs, nil
}
