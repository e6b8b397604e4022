// Readiness probe for scripts/kafka.sh: succeeds once the broker answers an admin metadata call.
// Run as a single-file source program: java -cp 'libs/*' scripts/KafkaReady.java 127.0.0.1:9092
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class KafkaReady {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
    long deadline = System.currentTimeMillis() + Long.parseLong(args.length > 1 ? args[1] : "60000");
    try (Admin admin = Admin.create(props)) {
      while (true) {
        try {
          int nodes = admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).size();
          if (nodes > 0) { System.out.println("ready: " + nodes + " node(s)"); return; }
        } catch (Exception e) {
          if (System.currentTimeMillis() > deadline) { System.err.println("not ready: " + e); System.exit(1); }
        }
        Thread.sleep(250);
      }
    }
  }
}
