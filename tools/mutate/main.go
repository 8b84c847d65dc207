// Command mutate runs mutation testing with gremlins on packages of this
// module, prints each package's score and fails when one is below -min.
//
//	go run ./tools/mutate -gremlins github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0 ./mailbot/team
//
// The score is the share of the tested mutants that the package's own tests
// catch: killed and timed-out over killed, timed-out and lived (gremlins'
// "test efficacy", with timeouts counted as caught). Not-covered mutants are
// printed but not scored: gremlins v0.6.0 takes coverage from the profile's
// blocks, and a block starts after a case clause's colon, so a mutant in a
// `case x > y:` expression is always "not covered" and never run, however
// well tested the line is. The "all" column counts them as survivors.
//
// Workaround: gremlins v0.6.0 maps the coverage profile onto source files by
// deleting every "<module>/" from the profile's file names. Here the module
// is "mailbot" and the packages live under mailbot/, so "mailbot/mailbot/team/
// auth.go" becomes "team/auth.go", no mutant is ever seen as covered and the
// run reports nothing. mutate therefore copies the module to a temporary
// directory, renames the module there (go.mod and import paths, nothing
// else) to mutate.invalid/mailbot, and runs gremlins on the copy. The working
// tree is never touched.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// renamePrefix goes in front of the module path in the copy, so that the
// module's name no longer equals the name of one of its directories.
const renamePrefix = "mutate.invalid/"

func main() {
	gremlins := flag.String("gremlins", "", "gremlins to `go run`, as module/cmd/gremlins@version")
	minScore := flag.Float64("min", 90, "lowest acceptable score per package, in percent")
	workers := flag.Int("workers", 2, "mutants tested at once")
	coefficient := flag.Int("timeout-coefficient", 10, "a mutant's test run may take this many times the coverage run")
	mutators := flag.String("mutators", "", "extra gremlins mutator flags, comma-separated (e.g. invert-logical)")
	keep := flag.Bool("keep", false, "keep the temporary copy and the JSON results")
	flag.Parse()
	if *gremlins == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutate -gremlins module/cmd/gremlins@version [flags] ./pkg...")
		os.Exit(2)
	}
	if err := run(*gremlins, *minScore, *workers, *coefficient, *mutators, *keep, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(gremlins string, minScore float64, workers, coefficient int, mutators string, keep bool, pkgs []string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mailbot-mutate-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("mutate: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	copyRoot := filepath.Join(tmp, "src")
	if err := copyModule(root, copyRoot); err != nil {
		return fmt.Errorf("copy module: %w", err)
	}
	if err := renameModule(copyRoot, module, renamePrefix+module); err != nil {
		return fmt.Errorf("rename module: %w", err)
	}

	var scores []score
	for _, pkg := range pkgs {
		pkg = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(pkg)), "./")
		out := filepath.Join(tmp, strings.ReplaceAll(pkg, "/", "_")+".json")
		args := []string{"run", gremlins, "unleash",
			"--workers", strconv.Itoa(workers),
			"--timeout-coefficient", strconv.Itoa(coefficient),
			"--output-statuses", "lct", // print the mutants that need a look
			"--output", out}
		for m := range strings.SplitSeq(mutators, ",") {
			if m = strings.TrimSpace(m); m != "" {
				args = append(args, "--"+m)
			}
		}
		args = append(args, "./"+pkg)
		fmt.Printf("mutate: %s: go %s\n", pkg, strings.Join(args, " "))
		start := time.Now()
		cmd := exec.Command("go", args...)
		cmd.Dir = copyRoot
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("gremlins on %s: %w", pkg, err)
		}
		s, err := readScore(out)
		if err != nil {
			return fmt.Errorf("gremlins on %s: %w", pkg, err)
		}
		s.pkg, s.elapsed = pkg, time.Since(start)
		scores = append(scores, s)
	}

	fmt.Println()
	fmt.Printf("mutate: %-16s %6s %6s %8s %9s %9s %7s %7s %6s\n", "package", "killed", "lived", "timedout", "uncovered", "notviable", "score", "all", "time")
	var low []string
	for _, s := range scores {
		fmt.Printf("mutate: %-16s %6d %6d %8d %9d %9d %6.1f%% %6.1f%% %6s\n", s.pkg, s.killed, s.lived, s.timedOut, s.notCovered, s.notViable,
			s.percent(), s.percentAll(), s.elapsed.Round(time.Second))
		if s.percent() < minScore {
			low = append(low, fmt.Sprintf("%s %.1f%%", s.pkg, s.percent()))
		}
	}
	if len(low) > 0 {
		return fmt.Errorf("score below %.0f%%: %s", minScore, strings.Join(low, ", "))
	}
	fmt.Printf("mutate: every package at or above %.0f%%\n", minScore)
	return nil
}

// modulePath reads the module line of go.mod.
func modulePath(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New(goMod + ": no module line")
}

// copyModule copies the module's files, leaving out dot-directories (.git)
// and build output.
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "bin") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, target)
		}
		return nil // symlinks and the like: not needed by the tests
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// renameModule changes the module path from old to new in go.mod and in
// every import of the module's packages; string literals and everything
// else stay byte for byte.
func renameModule(root, old, new string) error {
	goMod := filepath.Join(root, "go.mod")
	b, err := os.ReadFile(goMod)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "module ") {
			lines[i] = "module " + new
			break
		}
	}
	if err := os.WriteFile(goMod, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		return renameImports(path, old, new)
	})
}

func renameImports(path, old, new string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
	if err != nil {
		return err
	}
	type edit struct {
		from, to int
		text     string
	}
	var edits []edit
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return err
		}
		if p != old && !strings.HasPrefix(p, old+"/") {
			continue
		}
		edits = append(edits, edit{
			from: fset.Position(imp.Path.Pos()).Offset,
			to:   fset.Position(imp.Path.End()).Offset,
			text: strconv.Quote(new + strings.TrimPrefix(p, old)),
		})
	}
	if len(edits) == 0 {
		return nil
	}
	slices.Reverse(edits) // splice from the end so earlier offsets stay valid
	for _, e := range edits {
		src = slices.Concat(src[:e.from], []byte(e.text), src[e.to:])
	}
	return os.WriteFile(path, src, 0o644)
}

// score counts one package's mutants by the status gremlins gave them.
type score struct {
	pkg                                            string
	killed, lived, timedOut, notCovered, notViable int
	elapsed                                        time.Duration
}

func (s score) percent() float64 {
	caught := s.killed + s.timedOut
	if caught+s.lived == 0 {
		return 0 // no mutant is no evidence: fail rather than pass
	}
	return 100 * float64(caught) / float64(caught+s.lived)
}

// percentAll also counts the not-covered mutants as survivors.
func (s score) percentAll() float64 {
	caught := s.killed + s.timedOut
	if all := caught + s.lived + s.notCovered; all > 0 {
		return 100 * float64(caught) / float64(all)
	}
	return 0
}

// readScore reads gremlins' --output JSON (internal/report's OutputResult).
func readScore(path string) (score, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return score{}, err
	}
	var res struct {
		Files []struct {
			Mutations []struct {
				Status string `json:"status"`
			} `json:"mutations"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return score{}, fmt.Errorf("%s: %w", path, err)
	}
	var s score
	for _, f := range res.Files {
		for _, m := range f.Mutations {
			switch m.Status {
			case "KILLED":
				s.killed++
			case "LIVED":
				s.lived++
			case "TIMED OUT":
				s.timedOut++
			case "NOT COVERED":
				s.notCovered++
			case "NOT VIABLE":
				s.notViable++
			default:
				return score{}, fmt.Errorf("%s: unknown status %q", path, m.Status)
			}
		}
	}
	return s, nil
}
