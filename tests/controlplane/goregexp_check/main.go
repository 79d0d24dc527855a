// Command main answers, for each JSON string on stdin, whether Go's regexp.Compile accepts it ("ok") or not
// ("ERR"): the referee tests/controlplane/test_goregexp.py asks when a Go toolchain is on PATH.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p string
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			panic(err)
		}
		_, err := regexp.Compile(p)
		if err != nil {
			fmt.Println("ERR")
		} else {
			fmt.Println("ok")
		}
	}
}
