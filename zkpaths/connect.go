package zkpaths

import (
	"fmt"
	"path"
	"strings"
)

// ParseConnect splits a zookeeper.connect string, "h1:2181,h2:2182[/chroot]",
// into its servers and its chroot ("" for none). A chroot prefixes every
// znode path of the cluster; it must be a clean absolute path. A server
// without a port means ZooKeeper's default, 2181, as in Kafka.
func ParseConnect(connect string) (servers []string, chroot string, err error) {
	hosts := connect
	if i := strings.IndexByte(connect, '/'); i >= 0 {
		hosts, chroot = connect[:i], connect[i:]
		if chroot == "/" {
			chroot = ""
		} else if path.Clean(chroot) != chroot {
			return nil, "", fmt.Errorf("zookeeper.connect %q: chroot %q is not a clean absolute path", connect, chroot)
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", fmt.Errorf("zookeeper.connect %q: empty server address", connect)
		}
		servers = append(servers, h)
	}
	return servers, chroot, nil
}
