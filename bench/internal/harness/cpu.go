package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on every Linux architecture Go
// supports.
const userHZ = 100

// processCPU returns the user plus system CPU time the process pid has used so far, not counting
// its children (a server's runtimes are its children, so this is the server's own work).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The command
// name in field 2 may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: too few fields", stat)
	}
	var ticks int64
	for _, s := range f[11:13] { // field 3 (state) is f[0]
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat %q: %w", stat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuMeter measures a server process's CPU time over one phase.
type cpuMeter struct {
	pid   int
	start time.Duration
	ok    bool
}

func startCPU(pid int) cpuMeter {
	d, err := processCPU(pid)
	return cpuMeter{pid: pid, start: d, ok: err == nil}
}

// stop returns the CPU time used since startCPU, and false if it could not be read.
func (m cpuMeter) stop() (time.Duration, bool) {
	if !m.ok {
		return 0, false
	}
	d, err := processCPU(m.pid)
	if err != nil {
		return 0, false
	}
	return d - m.start, true
}
