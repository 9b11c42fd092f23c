// Package logging holds a broker's loggers: a root logger and one logger per
// component, whose levels change while the broker runs. They are what Kafka
// calls broker loggers (KIP-412): DescribeConfigs lists them with their
// levels and IncrementalAlterConfigs sets or resets a level, on one broker
// and until it restarts.
package logging

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// Root names the root logger. A component logger without a level of its
// own follows the root's level.
const Root = "kzoo"

// Errors of SetLevel and ResetLevel.
var (
	ErrUnknownLogger = errors.New("unknown logger")
	ErrInvalidLevel  = errors.New("invalid log level")
	ErrResetRoot     = errors.New("the root logger's level cannot be removed")
)

// levelNames are the levels as Kafka names them, from the most verbose.
var levelNames = []struct {
	name  string
	level logrus.Level
}{
	{"TRACE", logrus.TraceLevel},
	{"DEBUG", logrus.DebugLevel},
	{"INFO", logrus.InfoLevel},
	{"WARN", logrus.WarnLevel},
	{"ERROR", logrus.ErrorLevel},
	{"FATAL", logrus.FatalLevel},
}

// ParseLevel reads a level name (TRACE, DEBUG, INFO, WARN, ERROR or FATAL,
// in any case).
func ParseLevel(name string) (logrus.Level, error) {
	for _, l := range levelNames {
		if strings.EqualFold(name, l.name) {
			return l.level, nil
		}
	}
	valid := make([]string, len(levelNames))
	for i, l := range levelNames {
		valid[i] = l.name
	}
	return 0, fmt.Errorf("%w %q: valid levels are %s", ErrInvalidLevel, name, strings.Join(valid, ", "))
}

// LevelName is the name Kafka gives a level.
func LevelName(level logrus.Level) string {
	for _, l := range levelNames {
		if l.level == level {
			return l.name
		}
	}
	return strings.ToUpper(level.String()) // PANIC: only reachable through logrus directly
}

// Loggers is the set of a broker's loggers. It is safe for concurrent use.
type Loggers struct {
	out       io.Writer // shared, so that lines of different loggers never interleave
	formatter logrus.Formatter
	fields    logrus.Fields

	mu   sync.Mutex // guards the levels; logrus reads them atomically
	root *logrus.Logger
	// components by name; own is the level set on the component itself,
	// nil while it follows the root's.
	components map[string]*component
}

type component struct {
	logger *logrus.Logger
	own    *logrus.Level
}

// New returns the loggers of a broker writing to out with formatter, the
// root at level, every line carrying fields.
func New(out io.Writer, formatter logrus.Formatter, level logrus.Level, fields logrus.Fields) *Loggers {
	l := &Loggers{
		out:        &lockedWriter{w: out},
		formatter:  formatter,
		fields:     fields,
		components: make(map[string]*component),
	}
	l.root = l.newLogger(level)
	return l
}

func (l *Loggers) newLogger(level logrus.Level) *logrus.Logger {
	lg := logrus.New()
	lg.SetOutput(l.out)
	lg.SetFormatter(l.formatter)
	lg.SetLevel(level)
	return lg
}

// Root returns the root logger.
func (l *Loggers) Root() *logrus.Entry { return l.root.WithFields(l.fields) }

// Component returns the logger of the named component, creating it at the
// root's level on first use. Its lines carry component=name.
func (l *Loggers) Component(name string) *logrus.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.components[name]
	if !ok {
		c = &component{logger: l.newLogger(l.root.GetLevel())}
		l.components[name] = c
	}
	return c.logger.WithFields(l.fields).WithField("component", name)
}

// Level is one logger with the level in effect.
type Level struct {
	Logger string
	Level  string
}

// Levels lists the root and every component logger, by name.
func (l *Loggers) Levels() []Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Level{{Root, LevelName(l.root.GetLevel())}}
	for name, c := range l.components {
		out = append(out, Level{name, LevelName(c.logger.GetLevel())})
	}
	slices.SortFunc(out, func(a, b Level) int { return strings.Compare(a.Logger, b.Logger) })
	return out
}

// Check reports whether SetLevel(logger, level) would succeed, or, with
// level nil, ResetLevel(logger).
func (l *Loggers) Check(logger string, level *string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.check(logger, level)
	return err
}

func (l *Loggers) check(logger string, level *string) (logrus.Level, error) {
	if _, ok := l.components[logger]; !ok && logger != Root {
		return 0, fmt.Errorf("%w %q: the loggers are %s", ErrUnknownLogger, logger, strings.Join(l.namesLocked(), ", "))
	}
	if level == nil {
		if logger == Root {
			return 0, ErrResetRoot
		}
		return 0, nil
	}
	lv, err := ParseLevel(*level)
	if err != nil {
		return 0, fmt.Errorf("logger %s: %w", logger, err)
	}
	return lv, nil
}

func (l *Loggers) namesLocked() []string {
	names := []string{Root}
	for name := range l.components {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// SetLevel sets a logger's level. Set on the root, it applies to the
// components that have no level of their own.
func (l *Loggers) SetLevel(logger, level string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	lv, err := l.check(logger, &level)
	if err != nil {
		return err
	}
	if logger != Root {
		c := l.components[logger]
		c.own = &lv
		c.logger.SetLevel(lv)
		return nil
	}
	l.root.SetLevel(lv)
	for _, c := range l.components {
		if c.own == nil {
			c.logger.SetLevel(lv)
		}
	}
	return nil
}

// ResetLevel removes a component logger's own level: it follows the root's
// again.
func (l *Loggers) ResetLevel(logger string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.check(logger, nil); err != nil {
		return err
	}
	c := l.components[logger]
	c.own = nil
	c.logger.SetLevel(l.root.GetLevel())
	return nil
}

// lockedWriter serialises the writes of the loggers sharing it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
