/*
 * txring: the reference packet generator of `make bench` — a minimal
 * TPACKET_V2 TX-ring loop, the bar v6gen is measured against (issue 11).
 * Not shipped: the bench harness compiles it with the host's C compiler.
 *
 *   txring IFNAME FRAMEFILE SECONDS
 *
 * FRAMEFILE holds the frames to send round-robin, each as a 2-byte
 * big-endian length and the frame (v6gen -write-frames). The loop fills
 * ring slots (4096 of 128 bytes, or larger for larger frames), marks them
 * for sending, kicks the kernel with sendto(MSG_DONTWAIT) every 64 frames,
 * and when the next slot is still owned by the kernel kicks it with a
 * blocking sendto (which returns once the ring is sent). It prints
 * {"sent":N,"seconds":S,"pps":R,"waits":W} where sent counts the frames the
 * kernel took from the ring and waits the blocking sends for a full ring.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NFRAMES 4096
#define BATCH 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: txring IFNAME FRAMEFILE SECONDS\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 2;
	}
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	unsigned char *frames[1024];
	unsigned lens[1024], nf = 0, maxlen = 0;
	for (size_t off = 0; off + 2 <= n && nf < 1024;) {
		unsigned l = buf[off] << 8 | buf[off + 1];
		if (off + 2 + l > n)
			break;
		frames[nf] = buf + off + 2;
		lens[nf++] = l;
		if (l > maxlen)
			maxlen = l;
		off += 2 + l;
	}
	if (nf == 0) {
		fprintf(stderr, "txring: no frames in %s\n", argv[2]);
		return 2;
	}
	double seconds = atof(argv[3]);

	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	int v = TPACKET_V2;
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) {
		perror("PACKET_VERSION");
		return 1;
	}
	v = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v) < 0) {
		perror("PACKET_QDISC_BYPASS");
		return 1;
	}
	unsigned fsz = 128;
	while (fsz < maxlen + TPACKET2_HDRLEN)
		fsz *= 2;
	struct tpacket_req req = {
		.tp_block_size = 4 * 4096,
		.tp_frame_size = fsz,
	};
	if (req.tp_block_size < fsz)
		req.tp_block_size = fsz;
	unsigned per = req.tp_block_size / fsz;
	req.tp_block_nr = NFRAMES / per;
	req.tp_frame_nr = req.tp_block_nr * per;
	if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) {
		perror("PACKET_TX_RING");
		return 1;
	}
	size_t size = (size_t)req.tp_block_size * req.tp_block_nr;
	unsigned char *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (ring == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct sockaddr_ll sa = {
		.sll_family = AF_PACKET,
		.sll_ifindex = if_nametoindex(argv[1]),
	};
	if (sa.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror(argv[1]);
		return 1;
	}

	unsigned long long queued = 0, waits = 0;
	unsigned idx = 0, next = 0;
	double start = now(), end = start + seconds;
	while (now() < end) {
		for (int i = 0; i < BATCH; i++) {
			struct tpacket2_hdr *h = (void *)(ring + (size_t)idx * fsz);
			while (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
				/* The kernel still owns the slot: send and wait. */
				waits++;
				if (sendto(fd, NULL, 0, 0, NULL, 0) < 0 && h->tp_status == TP_STATUS_WRONG_FORMAT)
					h->tp_status = TP_STATUS_AVAILABLE;
			}
			memcpy((unsigned char *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll), frames[next], lens[next]);
			h->tp_len = lens[next];
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			if (++next == nf)
				next = 0;
			if (++idx == req.tp_frame_nr)
				idx = 0;
			queued++;
		}
		sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	}
	/* Everything queued leaves before the count is final. */
	sendto(fd, NULL, 0, 0, NULL, 0);
	double secs = now() - start;
	printf("{\"sent\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"waits\":%llu}\n", queued, secs, queued / secs, waits);
	return 0;
}
