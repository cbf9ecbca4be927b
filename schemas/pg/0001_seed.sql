-- 0001_seed: the platform's PostgreSQL schema, applied verbatim from the schema contract
-- (shared/seeds/000_c654f91a7b667163.txt, sections 2, 4, 5, 6 and 7, in order; the MySQL
-- section 3 is not part of it). Do not edit: the web UI and existing data depend on every
-- column, type and CHECK below, and the runner refuses an applied file whose checksum changed.
-- Fleet additions live in later migrations (0002_fleet.sql onwards) and are strictly additive.

-- seed section 2.1.1 workflows 테이블
CREATE TABLE workflows (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description TEXT,
  status VARCHAR(50) DEFAULT 'draft' 
    CHECK (status IN ('draft', 'active', 'paused', 'archived')),
  trigger_type VARCHAR(100) NOT NULL 
    CHECK (trigger_type IN ('manual', 'schedule', 'event', 'webhook')),
  trigger_config JSONB DEFAULT '{}',
  target_config JSONB DEFAULT '{}',    -- MySQL 쿼리 설정
  message_config JSONB DEFAULT '{}',   -- 메시지 템플릿 설정
  variables JSONB DEFAULT '{}',        -- 변수 매핑
  schedule_config JSONB DEFAULT '{}',  -- 스케줄 설정
  statistics JSONB DEFAULT '{}',       -- 실행 통계
  last_run_at TIMESTAMP WITH TIME ZONE,
  next_run_at TIMESTAMP WITH TIME ZONE,
  created_by VARCHAR(255),
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.1.2 workflow_runs 테이블
CREATE TABLE workflow_runs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  workflow_id UUID REFERENCES workflows(id) ON DELETE CASCADE,
  status VARCHAR(50) NOT NULL 
    CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  trigger_type VARCHAR(100),
  target_count INTEGER DEFAULT 0,
  success_count INTEGER DEFAULT 0,
  failed_count INTEGER DEFAULT 0,
  total_cost DECIMAL(10,2) DEFAULT 0,
  error_message TEXT,
  execution_time_ms INTEGER,
  started_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  completed_at TIMESTAMP WITH TIME ZONE,
  logs JSONB DEFAULT '[]'
);

-- seed section 2.2.1 message_templates 테이블
CREATE TABLE message_templates (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description TEXT,
  category VARCHAR(100) 
    CHECK (category IN ('welcome', 'reminder', 'promotion', 
                       'notification', 'alert', 'survey', 'thanks', 'others')),
  message_type VARCHAR(50) NOT NULL 
    CHECK (message_type IN ('sms', 'lms', 'kakao')),
  template_code VARCHAR(100),  -- CoolSMS 템플릿 코드
  content TEXT NOT NULL,
  variables JSONB DEFAULT '[]',
  buttons JSONB DEFAULT '[]',  -- 알림톡 버튼 설정
  status VARCHAR(50) DEFAULT 'active' 
    CHECK (status IN ('draft', 'active', 'archived')),
  usage_count INTEGER DEFAULT 0,
  last_used_at TIMESTAMP WITH TIME ZONE,
  created_by VARCHAR(255),
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.2.2 template_usage_logs 테이블
CREATE TABLE template_usage_logs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  template_id UUID REFERENCES message_templates(id) ON DELETE CASCADE,
  workflow_id UUID REFERENCES workflows(id) ON DELETE CASCADE,
  used_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  variables_used JSONB DEFAULT '{}',
  success BOOLEAN DEFAULT true,
  error_message TEXT
);

-- seed section 2.3.1 individual_variable_mappings 테이블
CREATE TABLE individual_variable_mappings (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  variable_name VARCHAR(255) NOT NULL,
  display_name VARCHAR(255),
  source_type VARCHAR(50) NOT NULL 
    CHECK (source_type IN ('static', 'query', 'function')),
  source_field TEXT,           -- 정적값 또는 쿼리
  selected_column VARCHAR(255), -- 선택된 컬럼명
  default_value TEXT,
  usage_count INTEGER DEFAULT 0,
  last_used_at TIMESTAMP WITH TIME ZONE,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.3.2 variable_query_templates 테이블
CREATE TABLE variable_query_templates (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  template_name VARCHAR(255) NOT NULL UNIQUE,
  description TEXT,
  query_sql TEXT NOT NULL,
  variables JSONB DEFAULT '[]',
  usage_count INTEGER DEFAULT 0,
  last_used_at TIMESTAMP WITH TIME ZONE,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.4.1 message_logs 테이블
CREATE TABLE message_logs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  workflow_run_id UUID REFERENCES workflow_runs(id) ON DELETE CASCADE,
  template_id UUID REFERENCES message_templates(id) ON DELETE SET NULL,
  recipient_phone VARCHAR(20),
  recipient_name VARCHAR(255),
  message_type VARCHAR(50) NOT NULL 
    CHECK (message_type IN ('sms', 'lms', 'kakao')),
  message_content TEXT,
  variables_used JSONB DEFAULT '{}',
  status VARCHAR(50) NOT NULL 
    CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled')),
  provider VARCHAR(50),           -- CoolSMS
  provider_message_id VARCHAR(255),
  cost DECIMAL(8,2) DEFAULT 0,
  sent_at TIMESTAMP WITH TIME ZONE,
  delivered_at TIMESTAMP WITH TIME ZONE,
  failed_at TIMESTAMP WITH TIME ZONE,
  error_code VARCHAR(50),
  error_message TEXT,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.5.1 system_settings 테이블
CREATE TABLE system_settings (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  setting_key VARCHAR(255) NOT NULL UNIQUE,
  setting_value JSONB NOT NULL,
  description TEXT,
  category VARCHAR(100) DEFAULT 'general',
  is_encrypted BOOLEAN DEFAULT false,
  updated_by VARCHAR(255),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.5.2 user_activity_logs 테이블
CREATE TABLE user_activity_logs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  user_id VARCHAR(255),
  action VARCHAR(100) NOT NULL,
  resource_type VARCHAR(100),  -- 'workflow', 'template' 등
  resource_id VARCHAR(255),
  details JSONB DEFAULT '{}',
  ip_address INET,
  user_agent TEXT,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 2.6.1 daily_statistics 테이블
CREATE TABLE daily_statistics (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  stat_date DATE NOT NULL UNIQUE,
  workflows_created INTEGER DEFAULT 0,
  workflows_executed INTEGER DEFAULT 0,
  messages_sent INTEGER DEFAULT 0,
  messages_failed INTEGER DEFAULT 0,
  total_cost DECIMAL(10,2) DEFAULT 0,
  templates_used INTEGER DEFAULT 0,
  unique_users INTEGER DEFAULT 0,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- seed section 4.1 Supabase 인덱스
-- 워크플로우 관련
CREATE INDEX idx_workflows_status ON workflows(status);
CREATE INDEX idx_workflows_created_at ON workflows(created_at);
CREATE INDEX idx_workflows_next_run ON workflows(next_run_at) 
  WHERE next_run_at IS NOT NULL;

-- 워크플로우 실행 기록
CREATE INDEX idx_workflow_runs_workflow_id ON workflow_runs(workflow_id);
CREATE INDEX idx_workflow_runs_status ON workflow_runs(status);
CREATE INDEX idx_workflow_runs_started_at ON workflow_runs(started_at);

-- 메시지 템플릿
CREATE INDEX idx_message_templates_status ON message_templates(status);
CREATE INDEX idx_message_templates_message_type ON message_templates(message_type);
CREATE INDEX idx_message_templates_category ON message_templates(category);

-- 메시지 로그
CREATE INDEX idx_message_logs_workflow_run_id ON message_logs(workflow_run_id);
CREATE INDEX idx_message_logs_status ON message_logs(status);
CREATE INDEX idx_message_logs_sent_at ON message_logs(sent_at);
CREATE INDEX idx_message_logs_recipient_phone ON message_logs(recipient_phone);

-- 사용자 활동 로그
CREATE INDEX idx_user_activity_logs_user_id ON user_activity_logs(user_id);
CREATE INDEX idx_user_activity_logs_created_at ON user_activity_logs(created_at);

-- 통계
CREATE INDEX idx_daily_statistics_stat_date ON daily_statistics(stat_date);

-- seed section 5.1 자동 업데이트 트리거
-- updated_at 자동 업데이트 함수
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ language 'plpgsql';

-- 트리거 적용
CREATE TRIGGER update_workflows_updated_at 
  BEFORE UPDATE ON workflows 
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_message_templates_updated_at 
  BEFORE UPDATE ON message_templates 
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- seed section 5.2 사용 통계 업데이트 함수
-- 사용 횟수 자동 업데이트 함수
CREATE OR REPLACE FUNCTION update_usage_count()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_TABLE_NAME = 'template_usage_logs' THEN
        UPDATE message_templates 
        SET usage_count = usage_count + 1,
            last_used_at = NOW()
        WHERE id = NEW.template_id;
    END IF;
    RETURN NEW;
END;
$$ language 'plpgsql';

-- 트리거 적용
CREATE TRIGGER update_template_usage_count 
  AFTER INSERT ON template_usage_logs 
  FOR EACH ROW EXECUTE FUNCTION update_usage_count();

-- seed section 6.1 Row Level Security (RLS)
-- RLS 활성화
ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE individual_variable_mappings ENABLE ROW LEVEL SECURITY;

-- 기본 정책 (개발용 - 모든 접근 허용)
CREATE POLICY "dev_full_access" ON workflows
  FOR ALL TO anon, authenticated
  USING (true) WITH CHECK (true);

CREATE POLICY "dev_full_access" ON message_templates
  FOR ALL TO anon, authenticated
  USING (true) WITH CHECK (true);

CREATE POLICY "dev_full_access" ON individual_variable_mappings
  FOR ALL TO anon, authenticated
  USING (true) WITH CHECK (true);

-- seed section 6.2 Service Role 우회
-- Service Role에 대한 완전한 우회 정책
CREATE POLICY "service_role_bypass_rls" ON workflows
  FOR ALL TO service_role
  USING (true) WITH CHECK (true);

CREATE POLICY "service_role_bypass_rls" ON message_templates
  FOR ALL TO service_role
  USING (true) WITH CHECK (true);

CREATE POLICY "service_role_bypass_rls" ON individual_variable_mappings
  FOR ALL TO service_role
  USING (true) WITH CHECK (true);

-- seed section 7.1 워크플로우 요약 뷰
CREATE OR REPLACE VIEW workflow_summary AS
SELECT 
  w.id,
  w.name,
  w.status,
  w.created_at,
  COUNT(wr.id) as total_runs,
  COUNT(CASE WHEN wr.status = 'completed' THEN 1 END) as successful_runs,
  COUNT(CASE WHEN wr.status = 'failed' THEN 1 END) as failed_runs,
  MAX(wr.started_at) as last_run_at,
  SUM(wr.total_cost) as total_cost
FROM workflows w
LEFT JOIN workflow_runs wr ON w.id = wr.workflow_id
GROUP BY w.id, w.name, w.status, w.created_at;

-- seed section 7.2 일간 통계 요약 뷰
CREATE OR REPLACE VIEW daily_stats_summary AS
SELECT 
  stat_date,
  workflows_created,
  workflows_executed,
  messages_sent,
  messages_failed,
  CASE 
    WHEN messages_sent > 0 
    THEN ROUND((messages_sent - messages_failed) * 100.0 / messages_sent, 2)
    ELSE 0 
  END as success_rate,
  total_cost
FROM daily_statistics
ORDER BY stat_date DESC;
