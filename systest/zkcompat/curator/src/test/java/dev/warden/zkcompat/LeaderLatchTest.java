package dev.warden.zkcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.junit.jupiter.api.Test;

/** LeaderLatch: one leader among three, and another when it leaves. */
class LeaderLatchTest {
    private static long leaders(List<LeaderLatch> ls) {
        return ls.stream().filter(LeaderLatch::hasLeadership).count();
    }

    @Test
    void oneLeaderAndFailover() throws Exception {
        String path = Zk.base("latch");
        try (Zk zk = new Zk()) {
            List<LeaderLatch> latches = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                LeaderLatch l = new LeaderLatch(zk.client(), path, "l" + i);
                latches.add(l);
                l.start();
            }
            Zk.waitFor(() -> leaders(latches) == 1, 30_000, "a leader");
            LeaderLatch first = latches.stream().filter(LeaderLatch::hasLeadership).findFirst().orElseThrow();
            assertEquals(first.getId(), latches.get(0).getLeader().getId(), "every latch names the leader");
            Zk.waitFor(() -> {
                try {
                    return latches.get(1).getParticipants().size() == 3;
                } catch (Exception e) {
                    return false;
                }
            }, 10_000, "three participants");
            first.close();
            latches.remove(first);
            Zk.waitFor(() -> leaders(latches) == 1, 30_000, "a new leader after the first closed");
            LeaderLatch second = latches.stream().filter(LeaderLatch::hasLeadership).findFirst().orElseThrow();
            Zk.waitFor(() -> {
                try {
                    return latches.get(0).getLeader().getId().equals(second.getId())
                            && latches.get(0).getParticipants().size() == 2;
                } catch (Exception e) {
                    return false;
                }
            }, 10_000, "the participants to agree on the new leader");
            for (LeaderLatch l : latches) {
                l.close();
            }
        }
    }
}
