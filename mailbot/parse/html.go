package parse

import (
	"io"
	"strings"

	"golang.org/x/net/html"
)

// maxHTMLToken bounds one token in the HTML tokenizer (it buffers a whole
// token): a single text run or tag larger than this ends the conversion.
const maxHTMLToken = 4 << 20

// htmlToText converts HTML to plain text with the x/net/html tokenizer (no
// tree is built, so deep nesting costs nothing): script and style content is
// dropped, block elements and <br> end lines, white space outside <pre> is
// collapsed. The result goes to lp, which keeps it and finds OpenPGP armor.
func htmlToText(r io.Reader, lp *lineProc, m *Message) {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(maxHTMLToken)
	skip, pre := 0, 0
	atLineStart := true
	space := false // a collapsed space is pending
	emit := func(s string) {
		if s == "" {
			return
		}
		lp.Write([]byte(s))
		atLineStart = strings.HasSuffix(s, "\n")
	}
	newline := func() {
		space = false
		if !atLineStart {
			emit("\n")
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				m.warn("html: %v", err)
			}
			return
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			if pre > 0 {
				emit(t)
				continue
			}
			words := strings.Fields(t)
			if len(words) == 0 {
				space = space || len(t) > 0
				continue
			}
			lead := t[0] == ' ' || t[0] == '\t' || t[0] == '\n' || t[0] == '\r'
			if (space || lead) && !atLineStart {
				emit(" ")
			}
			emit(strings.Join(words, " "))
			last := t[len(t)-1]
			space = last == ' ' || last == '\t' || last == '\n' || last == '\r'
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			start := tt == html.StartTagToken
			end := tt == html.EndTagToken
			switch tag {
			case "script", "style", "title":
				if start {
					skip++
				} else if end && skip > 0 {
					skip--
				}
				continue
			case "pre":
				newline()
				if start {
					pre++
				} else if end && pre > 0 {
					pre--
				}
			case "br":
				space = false
				emit("\n")
			case "p", "div", "li", "tr", "table", "ul", "ol", "blockquote", "hr",
				"h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "dd", "dt":
				newline()
			case "td", "th":
				if end {
					space = true
				}
			}
		}
	}
}
