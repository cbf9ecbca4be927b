-- 001_crm: the customers' operational database (seed section 3.2), read-only for the fleet.
-- Columns are the seed's, verbatim; added here only the utf8mb4 table character set (names
-- are Korean), IF NOT EXISTS (so re-applying is harmless) and secondary indexes that the
-- typical target queries use. Nothing here is required by the fleet itself: it reads
-- whatever a workflow's query selects.

CREATE TABLE IF NOT EXISTS customers (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  phone VARCHAR(20),
  email VARCHAR(100),
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS subscriptions (
  id INT PRIMARY KEY AUTO_INCREMENT,
  customer_id INT,
  status VARCHAR(50),
  start_date DATE,
  end_date DATE,
  FOREIGN KEY (customer_id) REFERENCES customers(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Additive indexes: "new sign-ups since", "expiring soon", lookup by phone.
CREATE INDEX IF NOT EXISTS idx_customers_created_at ON customers (created_at);
CREATE INDEX IF NOT EXISTS idx_customers_phone ON customers (phone);
CREATE INDEX IF NOT EXISTS idx_subscriptions_status_end ON subscriptions (status, end_date);
